//! The five decisions, asked of a client's local replica. Each reads only memory: no
//! network, no lock held longer than a lookup, no allocation (except a recording check with
//! more than 16 extensions or numbers), safe from any number of threads at once.
//!
//! Inputs are NUL-terminated UTF-8 strings, read during the call only. Answers go to
//! caller-owned structs and buffers, written only when the call returns
//! `CALLGATE_RESULT_OK`. A decision itself never fails: an unknown tenant, user, queue or
//! number is a `deny` with a reason, like the HTTP API's.
//!
//! Every denial is queued for the daemon's audit trail, with its inputs ([`crate::audit`]):
//! a push onto a bounded lock-free queue, never a wait.

use std::ffi::c_char;

use callgate::check::{
    AgentPauseCheck, CallerIdCheck, FeatureCodeCheck, PermissionCheck, RecordingCheck, RecordingOf,
    ResourceOf, Texts,
};
use callgate::decide::Args;
use callgate::{Action, Answer, Category, Check, Outcome, RecordingAction};

use crate::client::{callgate_client, try_client};
use crate::codes::{callgate_feature, callgate_outcome, callgate_reason, callgate_result};
use crate::panic::{ffi_panic_boundary, try_mut, try_opt_str, try_str, write_text};
use crate::replica::Replica;

/// Bytes a caller-ID buffer needs for any answer: `+`, up to 15 digits, and the NUL.
pub const CALLGATE_CALLER_ID_MAX: usize = 17;

/// The answer to a caller-ID check. The caller ID itself goes to the caller's buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct callgate_caller_id {
    /// A `callgate_outcome`: `ALLOW` (present the requested number), `SUBSTITUTE` (present
    /// the number in the buffer instead) or `DENY`.
    pub outcome: u32,
    /// A `callgate_reason`.
    pub reason: u32,
    /// The replica's revision when it decided.
    pub revision: u64,
}

/// The answer to a yes/no check (agent pause, recording, permission).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct callgate_verdict {
    /// A `callgate_outcome`: `ALLOW` or `DENY`.
    pub outcome: u32,
    /// A `callgate_reason`.
    pub reason: u32,
    /// The replica's revision when it decided.
    pub revision: u64,
}

/// The answer to a feature-code check. The arguments go to the caller's buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct callgate_feature_code {
    /// A `callgate_outcome`: `ALLOW` or `DENY`.
    pub outcome: u32,
    /// A `callgate_reason`.
    pub reason: u32,
    /// The replica's revision when it decided.
    pub revision: u64,
    /// A `callgate_feature`: what the code means (`NONE` if no code matched).
    pub feature: u32,
    /// How many arguments are in the buffer.
    pub args_count: u32,
}

/// Answers a yes/no check from the replica, queueing a denial for the audit trail.
fn decided(replica: &Replica, check: &Check<'_>) -> callgate_verdict {
    let answer = replica.table().check(check);
    if answer.outcome() == Outcome::Deny {
        replica.audit().deny(check, &answer);
    }
    callgate_verdict {
        outcome: callgate_outcome::from(answer.outcome()) as u32,
        reason: callgate_reason::from(answer.reason()) as u32,
        revision: answer.revision(),
    }
}

/// A caller-ID answer's STIR/SHAKEN attestation (see `callgate_check_caller_id_attested`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct callgate_attestation {
    /// A `callgate_attest`: `NONE` (nothing to attest: a denial, or no caller ID), `A`,
    /// `B` or `C`.
    pub level: u32,
    /// A `callgate_attest_reason`.
    pub reason: u32,
}

/// A STIR/SHAKEN attestation level (ATIS-1000074). `NONE` is 0, so a zeroed answer never
/// reads as attested.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_attest {
    /// Nothing to attest: the call is denied or presents no caller ID.
    None = 0,
    /// Full: the caller is authenticated and may present the number.
    A = 1,
    /// Partial: the customer is authenticated; the number is not tied to the caller.
    B = 2,
    /// Gateway: the caller is not authenticated.
    C = 3,
}

/// Why a call gets its attestation level.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_attest_reason {
    /// No attestation.
    None = 0,
    /// `user_may_present`: the authenticated caller may present the number, or it is their
    /// own default caller ID.
    UserMayPresent = 1,
    /// `number_not_tied_to_user`: the caller is authenticated but may not present it.
    NumberNotTiedToUser = 2,
    /// `caller_not_authenticated`: nobody vouched for who is calling.
    CallerNotAuthenticated = 3,
}

fn attestation(a: Option<callgate::Attestation>) -> callgate_attestation {
    use callgate::attest::{Basis, Level};
    let Some(a) = a else {
        return callgate_attestation::default();
    };
    let level = match a.level {
        Level::A => callgate_attest::A,
        Level::B => callgate_attest::B,
        Level::C => callgate_attest::C,
    };
    let reason = match a.reason {
        Basis::UserMayPresent => callgate_attest_reason::UserMayPresent,
        Basis::NumberNotTiedToUser => callgate_attest_reason::NumberNotTiedToUser,
        Basis::CallerNotAuthenticated => callgate_attest_reason::CallerNotAuthenticated,
    };
    callgate_attestation {
        level: level as u32,
        reason: reason as u32,
    }
}

/// May `user` present `requested` as caller ID on a call to `dialed`?
///
/// - `client`: a live client.
/// - `tenant`, `user`, `dialed`: NUL-terminated, not NULL.
/// - `requested`: the caller ID asked for (E.164; `+` optional, as phones send it), or NULL
///   for none.
/// - `out_decision`: receives outcome, reason and revision.
/// - `caller_id_buf`, `caller_id_len`: receives the caller ID to present, NUL-terminated
///   (`"+15550100000"`): the requested number on `ALLOW`, the substitute on `SUBSTITUTE`,
///   an empty string on `DENY` or on an emergency call with no number anywhere.
///   `CALLGATE_CALLER_ID_MAX` bytes always suffice; less may give
///   `CALLGATE_RESULT_INSUFFICIENT_SIZE`.
/// - `out_caller_id_n`: receives the caller ID's length, without the NUL.
///
/// Emergency numbers (the tenant's, and always 911 and 112, even for a tenant the replica
/// doesn't know yet) are never denied.
///
/// # Safety
/// Every pointer valid as described; `caller_id_buf` valid for `caller_id_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_caller_id(
    client: *const callgate_client,
    tenant: *const c_char,
    user: *const c_char,
    requested: *const c_char,
    dialed: *const c_char,
    out_decision: *mut callgate_caller_id,
    caller_id_buf: *mut c_char,
    caller_id_len: usize,
    out_caller_id_n: *mut usize,
) -> callgate_result {
    ffi_panic_boundary! {
        // SAFETY: the caller's promises, passed on as they are.
        unsafe {
            caller_id(
                client, tenant, user, requested, dialed, None, out_decision,
                std::ptr::null_mut(), caller_id_buf, caller_id_len, out_caller_id_n,
            )
        }
    }
}

/// `callgate_check_caller_id`, with the answer's STIR/SHAKEN attestation.
///
/// - `authenticated`: whether the caller was authenticated (digest, a trusted trunk): only
///   then can the answer be `A` or `B`; otherwise it is `C`.
/// - `out_attestation`: receives the level and its reason (`NONE` for a denial, or a call
///   that presents no caller ID).
///
/// The rest as `callgate_check_caller_id`. The replica attests; signing (the PASSporT) is
/// the daemon's, which holds the provider's key (`POST /v1/check/caller-id` returns it).
///
/// # Safety
/// As `callgate_check_caller_id`; `out_attestation` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_caller_id_attested(
    client: *const callgate_client,
    tenant: *const c_char,
    user: *const c_char,
    requested: *const c_char,
    dialed: *const c_char,
    authenticated: bool,
    out_decision: *mut callgate_caller_id,
    out_attestation: *mut callgate_attestation,
    caller_id_buf: *mut c_char,
    caller_id_len: usize,
    out_caller_id_n: *mut usize,
) -> callgate_result {
    ffi_panic_boundary! {
        if out_attestation.is_null() {
            return callgate_result::NullParameter;
        }
        // SAFETY: the caller's promises, passed on as they are.
        unsafe {
            caller_id(
                client, tenant, user, requested, dialed, Some(authenticated), out_decision,
                out_attestation, caller_id_buf, caller_id_len, out_caller_id_n,
            )
        }
    }
}

/// Both caller-ID entry points: attested when `authenticated` is given (then
/// `out_attestation` is not NULL).
///
/// # Safety
/// As the entry points.
#[expect(
    clippy::too_many_arguments,
    reason = "the C entry points' parameters, as they are"
)]
unsafe fn caller_id(
    client: *const callgate_client,
    tenant: *const c_char,
    user: *const c_char,
    requested: *const c_char,
    dialed: *const c_char,
    authenticated: Option<bool>,
    out_decision: *mut callgate_caller_id,
    out_attestation: *mut callgate_attestation,
    caller_id_buf: *mut c_char,
    caller_id_len: usize,
    out_caller_id_n: *mut usize,
) -> callgate_result {
    let replica = try_client!(client);
    let tenant = try_str!(tenant);
    let user = try_str!(user);
    let requested = try_opt_str!(requested);
    let dialed = try_str!(dialed);
    let out = try_mut!(out_decision);
    let out_n = try_mut!(out_caller_id_n);
    let check = Check::CallerId(CallerIdCheck {
        tenant: tenant.into(),
        user: user.into(),
        requested: requested.map(Into::into),
        dialed: dialed.into(),
        authenticated,
    });
    let answer = replica.table().check(&check);
    let (caller_id, attested) = match &answer {
        Answer::CallerId(a) => (a.caller_id, a.attestation),
        _ => (None, None),
    };
    let number = caller_id.map(|n| n.to_buf());
    let text = number.as_ref().map_or(&[][..], |n| n.as_bytes());
    // SAFETY: `caller_id_buf` is valid for `caller_id_len` bytes by the caller's promise.
    let n = match unsafe { write_text(text, caller_id_buf, caller_id_len) } {
        Ok(n) => n,
        Err(e) => return e,
    };
    *out_n = n;
    *out = callgate_caller_id {
        outcome: callgate_outcome::from(answer.outcome()) as u32,
        reason: callgate_reason::from(answer.reason()) as u32,
        revision: answer.revision(),
    };
    // SAFETY: not NULL when attested (checked by the entry point), valid by the caller's
    // promise.
    if let Some(slot) = unsafe { out_attestation.as_mut() } {
        *slot = attestation(attested);
    }
    // Audited once the answer is delivered (not when the caller's buffer was too small).
    if answer.outcome() == Outcome::Deny {
        replica.audit().deny(&check, &answer);
    }
    callgate_result::Ok
}

/// May `actor` pause (`paused` true) or unpause `agent` in `queue` (its id or its dial
/// string)? An agent may pause itself; others must supervise the queue or hold
/// `call_queues:edit` over it.
///
/// `client`, every string (NUL-terminated) and `out_verdict` must not be NULL.
/// `*out_verdict` is written on `CALLGATE_RESULT_OK` only.
///
/// # Safety
/// Every pointer valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_agent_pause(
    client: *const callgate_client,
    tenant: *const c_char,
    actor: *const c_char,
    agent: *const c_char,
    queue: *const c_char,
    paused: bool,
    out_verdict: *mut callgate_verdict,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let tenant = try_str!(tenant);
        let actor = try_str!(actor);
        let agent = try_str!(agent);
        let queue = try_str!(queue);
        let out = try_mut!(out_verdict);
        let check = Check::AgentPause(AgentPauseCheck {
            tenant: tenant.into(),
            actor: actor.into(),
            agent: agent.into(),
            queue: queue.into(),
            paused,
        });
        let v = decided(replica, &check);
        *out = v;
        callgate_result::Ok
    }
}

/// Up to 16 strings on the stack, more on the heap.
struct Strs<'a> {
    inline: [&'a str; 16],
    len: usize,
    heap: Vec<&'a str>,
}

impl<'a> Strs<'a> {
    /// Reads `count` NUL-terminated strings from a C array.
    ///
    /// # Safety
    /// `ptr` is NULL (only if `count` is 0) or valid for `count` reads of string pointers,
    /// each NUL-terminated and alive for `'a`.
    unsafe fn read(ptr: *const *const c_char, count: usize) -> Result<Strs<'a>, callgate_result> {
        let mut strs = Strs {
            inline: [""; 16],
            len: count,
            heap: Vec::new(),
        };
        if count == 0 {
            return Ok(strs);
        }
        if ptr.is_null() {
            return Err(callgate_result::NullParameter);
        }
        let inline = count <= strs.inline.len();
        if !inline {
            strs.heap.reserve_exact(count);
        }
        for i in 0..count {
            // SAFETY: `i < count`, within the caller's array.
            let item = unsafe { ptr.add(i).read() };
            // SAFETY: each item is NULL or NUL-terminated (the caller's promise).
            let s =
                unsafe { crate::panic::str_from(item) }?.ok_or(callgate_result::NullParameter)?;
            if inline {
                if let Some(slot) = strs.inline.get_mut(i) {
                    *slot = s;
                }
            } else {
                strs.heap.push(s);
            }
        }
        Ok(strs)
    }

    fn as_slice(&self) -> &[&'a str] {
        if self.heap.is_empty() {
            self.inline.get(..self.len).unwrap_or(&[])
        } else {
            &self.heap
        }
    }
}

/// May `actor` do `action` (`"list"`, `"play"`, `"download"` or `"delete"`) to the
/// recording of a call: its `queue` (NULL if none), the `extensions` and `numbers` on it
/// (arrays of `extensions_count` and `numbers_count` strings; NULL if the count is 0), and
/// its `site` (NULL if none)?
///
/// `client`, `tenant`, `actor`, `action` and `out_verdict` must not be NULL, nor any string
/// in the arrays. An unknown `action` gives `CALLGATE_RESULT_UNKNOWN_ACTION`.
/// `*out_verdict` is written on `CALLGATE_RESULT_OK` only.
///
/// # Safety
/// Every pointer valid as described; the arrays hold at least their counts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_recording(
    client: *const callgate_client,
    tenant: *const c_char,
    actor: *const c_char,
    action: *const c_char,
    queue: *const c_char,
    extensions: *const *const c_char,
    extensions_count: usize,
    numbers: *const *const c_char,
    numbers_count: usize,
    site: *const c_char,
    out_verdict: *mut callgate_verdict,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let tenant = try_str!(tenant);
        let actor = try_str!(actor);
        let action = try_str!(action);
        let queue = try_opt_str!(queue);
        // SAFETY: arrays of their counts, by the caller's promise.
        let extensions = match unsafe { Strs::read(extensions, extensions_count) } {
            Ok(s) => s,
            Err(e) => return e,
        };
        // SAFETY: as above.
        let numbers = match unsafe { Strs::read(numbers, numbers_count) } {
            Ok(s) => s,
            Err(e) => return e,
        };
        let site = try_opt_str!(site);
        let out = try_mut!(out_verdict);
        let Ok(asked) = action.parse::<RecordingAction>() else {
            return callgate_result::UnknownAction;
        };
        let check = Check::Recording(RecordingCheck {
            tenant: tenant.into(),
            actor: actor.into(),
            action: asked,
            recording: RecordingOf {
                queue: queue.map(Into::into),
                extensions: Texts::Borrowed(extensions.as_slice()),
                numbers: Texts::Borrowed(numbers.as_slice()),
                site: site.map(Into::into),
            },
        });
        let v = decided(replica, &check);
        *out = v;
        callgate_result::Ok
    }
}

/// May `user` dial `dialed`, a feature (star) code, and what does it mean?
///
/// - `client`, `tenant`, `user`, `dialed`, `out_answer`, `args_buf`, `out_args_n`: not NULL.
/// - `*out_answer` gets outcome, reason, revision, the `callgate_feature` and the number of
///   arguments.
/// - `args_buf`, `args_len`: receives the arguments, resolved (a queue dialed by its number
///   comes back as its id), each NUL-terminated, one after the other: `*46*201*600` gives
///   `"201\0sales\0"`. `*out_args_n` gets the bytes written, NULs included (0 when there
///   are no arguments). `CALLGATE_RESULT_INSUFFICIENT_SIZE` if they don't fit.
///
/// # Safety
/// Every pointer valid as described; `args_buf` valid for `args_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_feature_code(
    client: *const callgate_client,
    tenant: *const c_char,
    user: *const c_char,
    dialed: *const c_char,
    out_answer: *mut callgate_feature_code,
    args_buf: *mut c_char,
    args_len: usize,
    out_args_n: *mut usize,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let tenant = try_str!(tenant);
        let user = try_str!(user);
        let dialed = try_str!(dialed);
        let out = try_mut!(out_answer);
        let out_n = try_mut!(out_args_n);
        if args_buf.is_null() {
            return callgate_result::NullParameter;
        }
        let check = Check::FeatureCode(FeatureCodeCheck {
            tenant: tenant.into(),
            user: user.into(),
            dialed: dialed.into(),
        });
        let answer = replica.table().check(&check);
        let (feature, args) = match &answer {
            Answer::FeatureCode(a) => (a.feature, &a.args),
            _ => (None, &Args::default()),
        };
        let needed: usize = args.iter().map(|a| a.len() + 1).sum();
        if needed > args_len {
            return callgate_result::InsufficientSize;
        }
        let mut at = 0usize;
        let mut count = 0u32;
        for arg in args.iter() {
            // SAFETY: `at + arg.len() + 1 <= needed <= args_len`: within the caller's buffer.
            if let Err(e) = unsafe { write_text(arg.as_bytes(), args_buf.add(at), args_len - at) } {
                return e;
            }
            at += arg.len() + 1;
            count += 1;
        }
        *out_n = at;
        *out = callgate_feature_code {
            outcome: callgate_outcome::from(answer.outcome()) as u32,
            reason: callgate_reason::from(answer.reason()) as u32,
            revision: answer.revision(),
            feature: callgate_feature::from(feature) as u32,
            args_count: count,
        };
        // Audited once the answer is delivered (not when the caller's buffer was too small).
        if answer.outcome() == Outcome::Deny {
            replica.audit().deny(&check, &answer);
        }
        callgate_result::Ok
    }
}

/// May `user` do `action` (`"view"`, `"create"`, `"edit"`, `"delete"`, `"download"`) on
/// `category` (`"call_recordings"`, `"phone_numbers"`, …: see DESIGN.md) over a resource:
/// any of `site`, `queue`, `extension`, `number` (each NULL if not part of the question; all
/// NULL asks "at all?").
///
/// `client`, `tenant`, `user`, `category`, `action` and `out_verdict` must not be NULL. An
/// unknown category or action gives `CALLGATE_RESULT_UNKNOWN_CATEGORY` /
/// `CALLGATE_RESULT_UNKNOWN_ACTION`. `*out_verdict` is written on `CALLGATE_RESULT_OK` only.
///
/// # Safety
/// Every pointer valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn callgate_check_permission(
    client: *const callgate_client,
    tenant: *const c_char,
    user: *const c_char,
    category: *const c_char,
    action: *const c_char,
    site: *const c_char,
    queue: *const c_char,
    extension: *const c_char,
    number: *const c_char,
    out_verdict: *mut callgate_verdict,
) -> callgate_result {
    ffi_panic_boundary! {
        let replica = try_client!(client);
        let tenant = try_str!(tenant);
        let user = try_str!(user);
        let category = try_str!(category);
        let action = try_str!(action);
        let resource = ResourceOf {
            site: try_opt_str!(site).map(Into::into),
            queue: try_opt_str!(queue).map(Into::into),
            extension: try_opt_str!(extension).map(Into::into),
            number: try_opt_str!(number).map(Into::into),
        };
        let out = try_mut!(out_verdict);
        let Ok(parsed_category) = category.parse::<Category>() else {
            return callgate_result::UnknownCategory;
        };
        let Ok(parsed_action) = action.parse::<Action>() else {
            return callgate_result::UnknownAction;
        };
        let check = Check::Permission(PermissionCheck {
            tenant: tenant.into(),
            user: user.into(),
            category: parsed_category,
            action: parsed_action,
            resource,
        });
        let v = decided(replica, &check);
        *out = v;
        callgate_result::Ok
    }
}
