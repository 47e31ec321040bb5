//! callgate's wire formats, kept out of the engine (which decides and does no I/O) and shared
//! by the two sides that speak them: the daemon and libcallgate.
//!
//! - [`feed`]: the replica feed's protocol, the frames the daemon and its in-process
//!   replicas exchange over a Unix socket, and a blocking codec for them over `std::io`.
//! - [`compact`]: a decision's audit record in one fixed-size value, which the daemon's and
//!   libcallgate's audit queues carry from the checking thread to the writer.

pub mod compact;
pub mod feed;
