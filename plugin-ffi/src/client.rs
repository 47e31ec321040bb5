//! The client handle: open a replica on the daemon's feed socket, ask how current it is,
//! free it.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use crate::codes::callgate_result;
use crate::panic::{ffi_panic_boundary, try_mut, try_opt_str, try_str, write_text};
use crate::replica::{DEFAULT_MAX_BACKOFF, Options, Replica, StartError};

/// A replica of the daemon's grant table, fed over its Unix socket by a background thread.
/// Opaque: made by `callgate_client_new`, released by `callgate_client_free`.
pub struct callgate_client {
    _private: [u8; 0],
}

/// How `callgate_client_new` sets a client up. Zeroed fields mean the defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct callgate_client_options {
    /// How long `callgate_client_new` waits for the first snapshot, in milliseconds. 0 = do
    /// not wait: return at once, and let the replica fill in the background (until then
    /// every check denies `unknown_tenant`, except emergency calls, which are allowed).
    pub snapshot_wait_ms: u32,
    /// The cap on the reconnect backoff, in milliseconds (it starts at 25 ms and doubles).
    /// 0 = 1000.
    pub max_backoff_ms: u32,
    /// What the client calls itself in the daemon's logs (NUL-terminated, copied). NULL =
    /// `"libcallgate"`.
    pub name: *const c_char,
}

/// The `Replica` behind a client pointer, or return `NULL_PARAMETER`.
macro_rules! try_client {
    ($ptr:expr) => {
        $crate::panic::try_ref!(($ptr).cast::<$crate::replica::Replica>())
    };
}
pub(crate) use try_client;

/// Opens a client on the daemon's feed socket.
///
/// Starts a background thread that connects to `socket_path`, loads a snapshot of the grant
/// table, follows every change, and reconnects (with backoff, capped by
/// `options->max_backoff_ms`) and reloads by itself whenever the connection is lost.
///
/// - `socket_path`: the daemon's `--feed` path, NUL-terminated; copied, so it may be freed
///   after the call.
/// - `options`: may be NULL (all defaults); read during the call only.
/// - `out_client`: receives the new client on `CALLGATE_RESULT_OK` only. The caller owns it
///   and must release it with `callgate_client_free`.
///
/// If `options->snapshot_wait_ms` is 0 this returns at once, even if the socket does not
/// exist yet. Otherwise it waits up to that long for the first snapshot and fails with
/// `CALLGATE_RESULT_CONNECT_FAILED` (never connected) or `CALLGATE_RESULT_TIMEOUT`
/// (connected, no snapshot), having stopped its thread.
///
/// Do not call it between `fork()` and `exec()` in a child of a threaded process, and open
/// clients after forking, not before: the background thread does not survive a fork.
///
/// # Safety
/// Every non-NULL pointer must be valid as described above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_client_new(
    socket_path: *const c_char,
    options: *const callgate_client_options,
    out_client: *mut *mut callgate_client,
) -> callgate_result {
    ffi_panic_boundary! {
        let path = try_str!(socket_path);
        let out = try_mut!(out_client);
        let defaults = callgate_client_options { snapshot_wait_ms: 0, max_backoff_ms: 0, name: std::ptr::null() };
        // SAFETY: NULL or a valid options struct, by the caller's promise.
        let options = unsafe { options.as_ref() }.copied().unwrap_or(defaults);
        let name = try_opt_str!(options.name).unwrap_or("libcallgate");
        let max_backoff = match options.max_backoff_ms {
            0 => DEFAULT_MAX_BACKOFF,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let options = Options {
            socket: PathBuf::from(path),
            name: name.to_string(),
            snapshot_wait: Duration::from_millis(u64::from(options.snapshot_wait_ms)),
            max_backoff,
        };
        match Replica::start(options) {
            Ok(replica) => {
                *out = Box::into_raw(Box::new(replica)).cast::<callgate_client>();
                callgate_result::Ok
            }
            Err(StartError::ConnectFailed) => callgate_result::ConnectFailed,
            Err(StartError::Timeout) => callgate_result::Timeout,
            Err(StartError::Thread) => callgate_result::ThreadFailed,
        }
    }
}

/// Sends the denials still queued for the daemon's audit trail (if connected; a daemon that
/// stopped reading holds this up to 5 s), stops the client's background threads (waiting for
/// them, at most the time to finish compiling one tenant) and frees the client and its
/// replica.
///
/// `client` may be NULL (nothing happens). After the call the pointer is dangling: no other
/// call may be using it or use it again, from any thread.
///
/// # Safety
/// `client` is NULL or a pointer from `callgate_client_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_client_free(client: *mut callgate_client) {
    ffi_panic_boundary! {
        if client.is_null() {
            return;
        }
        // SAFETY: made by `Box::into_raw` in `callgate_client_new`, freed once (the caller's promise).
        drop(unsafe { Box::from_raw(client.cast::<Replica>()) });
    }
}

/// The revision the client's replica is at: the latest change it has applied, or the
/// daemon's revision from its last heartbeat (0 before the first snapshot). Never goes
/// backwards.
///
/// `client` and `out_revision` must not be NULL; `*out_revision` is written on
/// `CALLGATE_RESULT_OK` only.
///
/// # Safety
/// `client` is a live client; `out_revision` is valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_client_revision(
    client: *const callgate_client,
    out_revision: *mut u64,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let out = try_mut!(out_revision);
        *out = replica.revision();
        callgate_result::Ok
    }
}

/// How stale the replica may be: milliseconds since the last frame (change or heartbeat)
/// from the daemon, which sends a heartbeat every second, so more than a couple of seconds
/// means the daemon is gone or unreachable and the replica answers from what it last had.
/// `UINT64_MAX` if nothing was ever received.
///
/// `client` and `out_ms` must not be NULL; `*out_ms` is written on `CALLGATE_RESULT_OK` only.
///
/// # Safety
/// `client` is a live client; `out_ms` is valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_client_staleness_ms(
    client: *const callgate_client,
    out_ms: *mut u64,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let out = try_mut!(out_ms);
        *out = replica.staleness().map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1));
        callgate_result::Ok
    }
}

/// Why the client's last connection to the daemon ended or failed ("cannot connect to …",
/// "the daemon refused: …"), as NUL-terminated text in the caller's `buf` of `len` bytes,
/// with its length (without the NUL) in `*out_n`. An empty string if nothing failed yet.
///
/// `client`, `buf` and `out_n` must not be NULL. `CALLGATE_RESULT_INSUFFICIENT_SIZE` if the
/// text and its NUL don't fit (256 bytes always do for text this library makes up, but a
/// path may be longer); nothing is written then.
///
/// # Safety
/// `client` is a live client; `buf` is valid for writes of `len` bytes; `out_n` for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_client_last_error(
    client: *const callgate_client,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let out_n = try_mut!(out_n);
        let text = replica.last_error().unwrap_or_default();
        // SAFETY: `buf` is valid for `len` bytes by the caller's promise.
        match unsafe { write_text(text.as_bytes(), buf, len) } {
            Ok(n) => {
                *out_n = n;
                callgate_result::Ok
            }
            Err(e) => e,
        }
    }
}
