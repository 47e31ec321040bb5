//! C ABI invariants, shared by the `ffi_calls` fuzz target and `plugin-ffi/tests/fuzz_replay.rs`
//! (which includes this file by `#[path]`; both name the C library's crate `crate::capi`):
//! arbitrary bytes, NULLs and buffer lengths through the `extern "C"` checks never panic,
//! never write past the buffer they are given, answer NULL with `NULL_PARAMETER`, write a
//! NUL-terminated caller ID that fits, never deny an emergency call, and every code has text.
//!
//! Input: byte 0 = which pointers are NULL (bit 0 tenant, 1 user, 2 requested, 3 dialed,
//! 4 the output, 5 the buffer), byte 1 = the buffer's length, bytes 2..6 = a code for the
//! text functions, then `tenant \0 user \0 requested \0 dialed` (any bytes, UTF-8 or not).
//! The client is one opened on a socket that does not exist: a replica that has heard
//! nothing, so only emergency calls are allowed.

use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use crate::capi;

/// Bytes after the buffer that must stay untouched.
const CANARY: usize = 32;

struct Client(*mut capi::callgate_client);
// SAFETY: a client is meant to be shared by threads (the C API says so); only read here.
unsafe impl Send for Client {}
// SAFETY: as above.
unsafe impl Sync for Client {}

fn client() -> *const capi::callgate_client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let path = c"/nonexistent/callgate-fuzz.sock";
            let mut out: *mut capi::callgate_client = std::ptr::null_mut();
            // SAFETY: a valid path, NULL options (defaults: don't wait), a valid out pointer.
            let r = unsafe { capi::callgate_client_new(path.as_ptr(), std::ptr::null(), &mut out) };
            assert_eq!(
                r,
                capi::callgate_result::Ok,
                "a client opens without a daemon"
            );
            Client(out)
        })
        .0
}

fn text_ok(p: *const c_char) {
    assert!(!p.is_null(), "a code without text");
    // SAFETY: the API returns static NUL-terminated strings.
    let s = unsafe { CStr::from_ptr(p) };
    assert!(!s.to_bytes().is_empty(), "a code with empty text");
}

fn utf8(s: &CString) -> Option<&str> {
    std::str::from_utf8(s.as_bytes()).ok()
}

/// Runs the checks on the input and checks every invariant.
pub fn check_ffi(data: &[u8]) {
    let (Some(&nulls), Some(&len)) = (data.first(), data.get(1)) else {
        return;
    };
    let code = data
        .get(2..6)
        .and_then(|c| <[u8; 4]>::try_from(c).ok())
        .map_or(0, u32::from_le_bytes);
    text_ok(capi::callgate_result_text(code));
    text_ok(capi::callgate_outcome_text(code));
    text_ok(capi::callgate_reason_code(code));
    text_ok(capi::callgate_reason_text(code));
    text_ok(capi::callgate_feature_text(code));

    let rest = data.get(6..).unwrap_or(&[]);
    let mut parts = rest.split(|b| *b == 0);
    let mut next = || CString::new(parts.next().unwrap_or(&[])).expect("split at NULs");
    let (tenant, user, requested, dialed) = (next(), next(), next(), next());
    let ptr = |bit: u8, s: &CString| {
        if nulls & (1 << bit) != 0 {
            std::ptr::null()
        } else {
            s.as_ptr()
        }
    };
    let len = usize::from(len);
    let mut buf = vec![0x5au8; len + CANARY];
    let buf_ptr = if nulls & (1 << 5) != 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast::<c_char>()
    };
    let mut n = usize::MAX;
    let mut decision = capi::callgate_caller_id::default();
    let out: *mut capi::callgate_caller_id = if nulls & (1 << 4) != 0 {
        std::ptr::null_mut()
    } else {
        &mut decision
    };
    // SAFETY: every pointer is NULL or valid; the buffer is valid for `len` bytes (and more).
    let r = unsafe {
        capi::callgate_check_caller_id(
            client(),
            ptr(0, &tenant),
            ptr(1, &user),
            ptr(2, &requested),
            ptr(3, &dialed),
            out,
            buf_ptr,
            len,
            &mut n,
        )
    };
    assert_ne!(
        r,
        capi::callgate_result::Panic,
        "a panic reached the boundary"
    );
    assert!(
        buf[len..].iter().all(|b| *b == 0x5a),
        "written past a {len}-byte buffer"
    );
    let mandatory_null = nulls & 0b1_1011 != 0;
    if mandatory_null {
        // Arguments are checked in order: a string before it may be refused first.
        assert!(
            r == capi::callgate_result::NullParameter || r == capi::callgate_result::InvalidUtf8,
            "a NULL went unnoticed: {r:?}"
        );
        return;
    }
    let (Some(t), Some(_), Some(d)) = (utf8(&tenant), utf8(&user), utf8(&dialed)) else {
        assert_eq!(
            r,
            capi::callgate_result::InvalidUtf8,
            "bad UTF-8 went unnoticed"
        );
        return;
    };
    if nulls & (1 << 2) == 0 && utf8(&requested).is_none() {
        assert_eq!(
            r,
            capi::callgate_result::InvalidUtf8,
            "bad UTF-8 went unnoticed"
        );
        return;
    }
    if r != capi::callgate_result::Ok {
        assert!(
            r == capi::callgate_result::InsufficientSize
                || (r == capi::callgate_result::NullParameter && buf_ptr.is_null()),
            "caller ID check failed with {r:?}"
        );
        return;
    }
    assert!(n < len, "a {n}-byte caller ID in a {len}-byte buffer");
    assert_eq!(buf[n], 0, "the caller ID is not NUL-terminated");
    let number = &buf[..n];
    assert!(
        number.is_empty()
            || (number[0] == b'+'
                && number.len() > 1
                && number[1..].iter().all(u8::is_ascii_digit)),
        "caller ID `{}`",
        String::from_utf8_lossy(number)
    );
    let emergency = capi::engine::Table::new().is_emergency(t, d);
    if emergency {
        assert_ne!(
            decision.outcome,
            capi::callgate_outcome::Deny as u32,
            "an emergency call was denied"
        );
    }

    // The feature-code check, with the same strings and buffer.
    let mut buf = vec![0x5au8; len + CANARY];
    let mut answer = capi::callgate_feature_code::default();
    let mut n = usize::MAX;
    // SAFETY: as above.
    let r = unsafe {
        capi::callgate_check_feature_code(
            client(),
            tenant.as_ptr(),
            user.as_ptr(),
            dialed.as_ptr(),
            &mut answer,
            buf.as_mut_ptr().cast::<c_char>(),
            len,
            &mut n,
        )
    };
    assert!(
        r == capi::callgate_result::Ok || r == capi::callgate_result::InsufficientSize,
        "feature code check failed with {r:?}"
    );
    assert!(
        buf[len..].iter().all(|b| *b == 0x5a),
        "written past a {len}-byte buffer"
    );
    if r == capi::callgate_result::Ok {
        assert!(n <= len, "{n} argument bytes in a {len}-byte buffer");
    }
}
