//! callgate's engine: the role catalog, the directory format, the grant table and the five
//! call-time decisions (caller ID, queue agent pause, recording access, feature code,
//! permission). Synchronous, no I/O: the daemon and the C plugin both embed it. The wire
//! formats they share (the replica feed's frames, the compact audit record) are the
//! `callgate-wire` crate's.
//!
//! A question flows one way too: every front end (HTTP, CLI, SIP, the C ABI) builds a
//! [`Check`] and asks [`Table::check`], which gives an [`Answer`]; the audit trail records the
//! check's [`DecisionKind`] and inputs ([`check::Check::inputs`]).
//!
//! A change flows one way: the store applies an [`edit::Edit`] (one entity put or deleted)
//! and logs the [`edit::Splice`] it made (the entities it changed); every table that follows
//! the store (the daemon's own, another daemon's, a replica's through the feed) patches its
//! compiled tenant with that splice ([`table::CompiledTenant::spliced`]) instead of compiling
//! the tenant again, so a one-user change costs the same whatever the tenant's size.

pub mod attest;
pub mod catalog;
pub mod check;
pub mod decide;
pub mod dial;
pub mod directory;
pub mod edit;
pub mod explain;
pub mod feature;
pub mod model;
pub mod number;
pub mod reason;
pub mod table;

pub use attest::Attestation;
pub use catalog::{Action, Category, Scope};
pub use check::{Answer, Check, DecisionKind};
pub use decide::{
    Args, CallerIdAnswer, FeatureAnswer, Outcome, Principal, Recording, RecordingAction, Resource,
    Verdict,
};
pub use directory::{DirectoryError, Problem};
pub use explain::Explanation;
pub use feature::FeatureKind;
pub use model::{Directory, Tenant};
pub use number::E164;
pub use reason::Reason;
pub use table::{CompiledTenant, Table};
