//! callgate's daemon: the store, the SIP and HTTP endpoints, the replica feed.
//!
//! A change flows one way: an admin write goes into the store ([`store`]); the store's
//! follower applies it to the grant table through the table's one writer ([`writer`]), which
//! publishes it to the replica feed ([`feed`]); checks read the table ([`state::State`]).
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
