//! The boundary every C call goes through: panics never unwind into C, NULL pointers and
//! non-UTF-8 strings become result codes, and outputs are touched only on success.
//!
//! After rustls-ffi's `panic.rs`: each `extern "C"` body is wrapped in
//! [`ffi_panic_boundary!`], which turns a panic into [`callgate_result::Panic`] (or the
//! function's safe default), and every pointer goes through one of the `try_*!` macros.

use std::ffi::c_char;

use crate::codes::callgate_result;

/// What a function returns if its body panics.
pub(crate) trait PanicDefault {
    /// The value returned to C instead of unwinding.
    fn on_panic() -> Self;
}

impl PanicDefault for callgate_result {
    fn on_panic() -> Self {
        callgate_result::Panic
    }
}

impl PanicDefault for () {
    fn on_panic() -> Self {}
}

impl PanicDefault for *const c_char {
    fn on_panic() -> Self {
        c"panic".as_ptr()
    }
}

/// Runs a function body, catching any panic and returning the function's [`PanicDefault`].
/// A `return` inside the body returns from the function (the body is a closure).
macro_rules! ffi_panic_boundary {
    ( $($body:tt)* ) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => $crate::panic::PanicDefault::on_panic(),
        }
    };
}
pub(crate) use ffi_panic_boundary;

/// `&T` from a `*const T`, or return `NULL_PARAMETER`.
macro_rules! try_ref {
    ($ptr:expr) => {
        // SAFETY: the caller promises a non-NULL pointer is valid for reads (the API contract).
        match unsafe { ($ptr).as_ref() } {
            Some(r) => r,
            None => return $crate::codes::callgate_result::NullParameter,
        }
    };
}
pub(crate) use try_ref;

/// `&mut T` from a `*mut T`, or return `NULL_PARAMETER`.
macro_rules! try_mut {
    ($ptr:expr) => {
        // SAFETY: the caller promises a non-NULL pointer is valid for writes (the API contract).
        match unsafe { ($ptr).as_mut() } {
            Some(r) => r,
            None => return $crate::codes::callgate_result::NullParameter,
        }
    };
}
pub(crate) use try_mut;

/// `&str` from a NUL-terminated `const char*`: NULL → `NULL_PARAMETER`, bad UTF-8 →
/// `INVALID_UTF8`.
macro_rules! try_str {
    ($ptr:expr) => {
        // SAFETY: the caller promises a non-NULL pointer is a NUL-terminated string.
        match unsafe { $crate::panic::str_from($ptr) } {
            Ok(Some(s)) => s,
            Ok(None) => return $crate::codes::callgate_result::NullParameter,
            Err(e) => return e,
        }
    };
}
pub(crate) use try_str;

/// `Option<&str>` from a nullable `const char*`: NULL → `None`, bad UTF-8 → `INVALID_UTF8`.
macro_rules! try_opt_str {
    ($ptr:expr) => {
        // SAFETY: the caller promises a non-NULL pointer is a NUL-terminated string.
        match unsafe { $crate::panic::str_from($ptr) } {
            Ok(s) => s,
            Err(e) => return e,
        }
    };
}
pub(crate) use try_opt_str;

/// The text of a NUL-terminated string, `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_from<'a>(ptr: *const c_char) -> Result<Option<&'a str>, callgate_result> {
    if ptr.is_null() {
        return Ok(None);
    }
    // One pass finds the NUL and notes any byte outside ASCII: the ids, numbers and codes
    // asked about are short and ASCII, so this is all the work a string takes; anything else
    // is validated as UTF-8 properly.
    let start = ptr.cast::<u8>();
    let mut len = 0usize;
    let mut high = 0u8;
    loop {
        // SAFETY: NUL-terminated by the caller's promise, and we stop at the NUL.
        let b = unsafe { start.add(len).read() };
        if b == 0 {
            break;
        }
        high |= b;
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL, alive for the call by the caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(start, len) };
    if high < 0x80 {
        // SAFETY: every byte is below 0x80: ASCII, hence UTF-8.
        return Ok(Some(unsafe { std::str::from_utf8_unchecked(bytes) }));
    }
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| callgate_result::InvalidUtf8)
}

pub(crate) unsafe fn write_text(
    text: &[u8],
    buf: *mut c_char,
    len: usize,
) -> Result<usize, callgate_result> {
    if buf.is_null() {
        return Err(callgate_result::NullParameter);
    }
    if text.len() >= len {
        return Err(callgate_result::InsufficientSize);
    }
    // SAFETY: `buf` holds `len` > `text.len()` bytes; the regions can't overlap (ours is Rust's).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    Ok(text.len())
}
