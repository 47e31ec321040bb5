//! callgate's daemon: the store, the SIP and HTTP endpoints, the replica feed.
//!
//! The binary (`main.rs`) only parses the command line and wires these together.

pub mod audit;
pub mod config;
pub mod feed;
pub mod http;
pub mod serve;
pub mod shaken;
pub mod sip;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod writer;
