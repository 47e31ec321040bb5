//! libcallgate: callgate's decisions in-process, through a C ABI.
//!
//! A PBX opens a client on the daemon's feed socket (`callgate_client_new`); a background
//! thread keeps a local replica of the grant table in step with the daemon, and the checks
//! (`callgate_check_*`) read only that replica: no network, no blocking, safe from any number
//! of threads. If the daemon goes away the replica keeps answering from what it has and
//! `callgate_client_staleness_ms` says how old that is; emergency calls are always allowed.
//!
//! Conventions (after rustls-ffi): every symbol is `callgate_<thing>_<verb>`; the object
//! first, inputs next, outputs last; outputs are written only when the call returns
//! `CALLGATE_RESULT_OK`; every buffer is followed by its length; strings are NUL-terminated
//! UTF-8 (`CALLGATE_RESULT_INVALID_UTF8` otherwise) and are only read during the call; no
//! panic crosses the boundary (`CALLGATE_RESULT_PANIC`). The header is `include/callgate.h`.

#![expect(
    non_camel_case_types,
    reason = "C type names, as the header shows them"
)]

mod panic;

pub mod audit;
pub mod check;
pub mod client;
pub mod codes;
pub mod replica;

pub use check::{
    CALLGATE_CALLER_ID_MAX, callgate_caller_id, callgate_check_agent_pause,
    callgate_check_caller_id, callgate_check_feature_code, callgate_check_permission,
    callgate_check_recording, callgate_feature_code, callgate_verdict,
};
pub use client::{
    callgate_client, callgate_client_free, callgate_client_last_error, callgate_client_new,
    callgate_client_options, callgate_client_revision, callgate_client_staleness_ms,
};
pub use codes::{
    callgate_feature, callgate_feature_text, callgate_outcome, callgate_outcome_text,
    callgate_reason, callgate_reason_code, callgate_reason_text, callgate_result,
    callgate_result_text,
};

/// The engine this library embeds, for Rust users of the rlib (tests, benches).
pub use callgate as engine;

/// The library's version (`"0.1.0"`), NUL-terminated and static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_version() -> *const std::ffi::c_char {
    panic::ffi_panic_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}
