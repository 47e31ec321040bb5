//! The numbers C sees: the result of every call, and the outcome, reason and feature codes
//! of a decision, each with explicit values that are never renumbered (new ones are added
//! at the end), and the functions that turn them into text.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use callgate::{FeatureKind, Outcome, Reason};

use crate::panic::ffi_panic_boundary;

/// What a call did. Every function that can fail returns one; outputs are written only when
/// it is `CALLGATE_RESULT_OK`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_result {
    /// Success: the outputs are written.
    Ok = 0,
    /// A pointer that may not be NULL was NULL.
    NullParameter = 1,
    /// A string was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An output buffer was too small for the answer (and its NUL).
    InsufficientSize = 3,
    /// A permission category that doesn't exist.
    UnknownCategory = 4,
    /// An action (or a recording action) that doesn't exist.
    UnknownAction = 5,
    /// `callgate_client_new` waited for its first snapshot and could not even connect.
    ConnectFailed = 6,
    /// `callgate_client_new` connected but got no snapshot within the wait.
    Timeout = 7,
    /// The library hit a bug; the call did nothing. Please report it.
    Panic = 8,
    /// The background thread could not be started.
    ThreadFailed = 9,
}

/// Every result, in value order.
const RESULTS: [callgate_result; 10] = [
    callgate_result::Ok,
    callgate_result::NullParameter,
    callgate_result::InvalidUtf8,
    callgate_result::InsufficientSize,
    callgate_result::UnknownCategory,
    callgate_result::UnknownAction,
    callgate_result::ConnectFailed,
    callgate_result::Timeout,
    callgate_result::Panic,
    callgate_result::ThreadFailed,
];

impl callgate_result {
    fn text(self) -> &'static std::ffi::CStr {
        match self {
            callgate_result::Ok => c"ok",
            callgate_result::NullParameter => c"a required pointer argument was NULL",
            callgate_result::InvalidUtf8 => c"a string argument was not valid UTF-8",
            callgate_result::InsufficientSize => c"an output buffer was too small",
            callgate_result::UnknownCategory => c"unknown permission category",
            callgate_result::UnknownAction => c"unknown action",
            callgate_result::ConnectFailed => c"could not connect to the feed socket",
            callgate_result::Timeout => c"no snapshot arrived within the wait",
            callgate_result::Panic => c"internal error (a panic was caught)",
            callgate_result::ThreadFailed => c"could not start the replica thread",
        }
    }
}

/// How a decision came out. `DENY` is 0, so a zeroed answer never reads as an allow.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_outcome {
    /// Refuse.
    Deny = 0,
    /// Go ahead as asked.
    Allow = 1,
    /// Go ahead, presenting the caller ID in the answer instead of the one asked for.
    Substitute = 2,
}

impl From<Outcome> for callgate_outcome {
    fn from(o: Outcome) -> callgate_outcome {
        match o {
            Outcome::Deny => callgate_outcome::Deny,
            Outcome::Allow => callgate_outcome::Allow,
            Outcome::Substitute => callgate_outcome::Substitute,
        }
    }
}

/// Why a decision came out as it did. `callgate_reason_code` gives the stable snake_case
/// code the HTTP API uses, `callgate_reason_text` a sentence.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_reason {
    /// `number_permitted`
    NumberPermitted = 1,
    /// `emergency_call`
    EmergencyCall = 2,
    /// `emergency_callback`
    EmergencyCallback = 3,
    /// `number_not_permitted`
    NumberNotPermitted = 4,
    /// `number_not_owned`
    NumberNotOwned = 5,
    /// `no_caller_id_requested`
    NoCallerIdRequested = 6,
    /// `no_permitted_caller_id`
    NoPermittedCallerId = 7,
    /// `unknown_tenant`
    UnknownTenant = 8,
    /// `unknown_user`
    UnknownUser = 9,
    /// `user_suspended`
    UserSuspended = 10,
    /// `unknown_queue`
    UnknownQueue = 11,
    /// `unknown_agent`
    UnknownAgent = 12,
    /// `unknown_extension`
    UnknownExtension = 13,
    /// `not_queue_member`
    NotQueueMember = 14,
    /// `self_pause`
    SelfPause = 15,
    /// `queue_supervisor`
    QueueSupervisor = 16,
    /// `queue_agent`
    QueueAgent = 17,
    /// `permitted`
    Permitted = 18,
    /// `action_not_permitted`
    ActionNotPermitted = 19,
    /// `out_of_scope`
    OutOfScope = 20,
    /// `own_extension`
    OwnExtension = 21,
    /// `no_own_extension`
    NoOwnExtension = 22,
    /// `unknown_feature_code`
    UnknownFeatureCode = 23,
    /// `role_not_allowed`
    RoleNotAllowed = 24,
    /// `missing_argument`
    MissingArgument = 25,
    /// `too_many_arguments`
    TooManyArguments = 26,
    /// `invalid_input`
    InvalidInput = 27,
    /// `emergency_no_caller_id`
    EmergencyNoCallerId = 28,
    /// `unknown_site`
    UnknownSite = 29,
    /// `unknown_number`
    UnknownNumber = 30,
    /// `unknown_recording`
    UnknownRecording = 31,
    /// `invalid_dial_string`
    InvalidDialString = 32,
}

impl From<Reason> for callgate_reason {
    fn from(r: Reason) -> callgate_reason {
        match r {
            Reason::NumberPermitted => callgate_reason::NumberPermitted,
            Reason::EmergencyCall => callgate_reason::EmergencyCall,
            Reason::EmergencyCallback => callgate_reason::EmergencyCallback,
            Reason::NumberNotPermitted => callgate_reason::NumberNotPermitted,
            Reason::NumberNotOwned => callgate_reason::NumberNotOwned,
            Reason::NoCallerIdRequested => callgate_reason::NoCallerIdRequested,
            Reason::NoPermittedCallerId => callgate_reason::NoPermittedCallerId,
            Reason::UnknownTenant => callgate_reason::UnknownTenant,
            Reason::UnknownUser => callgate_reason::UnknownUser,
            Reason::UserSuspended => callgate_reason::UserSuspended,
            Reason::UnknownQueue => callgate_reason::UnknownQueue,
            Reason::UnknownAgent => callgate_reason::UnknownAgent,
            Reason::UnknownExtension => callgate_reason::UnknownExtension,
            Reason::NotQueueMember => callgate_reason::NotQueueMember,
            Reason::SelfPause => callgate_reason::SelfPause,
            Reason::QueueSupervisor => callgate_reason::QueueSupervisor,
            Reason::QueueAgent => callgate_reason::QueueAgent,
            Reason::Permitted => callgate_reason::Permitted,
            Reason::ActionNotPermitted => callgate_reason::ActionNotPermitted,
            Reason::OutOfScope => callgate_reason::OutOfScope,
            Reason::OwnExtension => callgate_reason::OwnExtension,
            Reason::NoOwnExtension => callgate_reason::NoOwnExtension,
            Reason::UnknownFeatureCode => callgate_reason::UnknownFeatureCode,
            Reason::RoleNotAllowed => callgate_reason::RoleNotAllowed,
            Reason::MissingArgument => callgate_reason::MissingArgument,
            Reason::TooManyArguments => callgate_reason::TooManyArguments,
            Reason::InvalidInput => callgate_reason::InvalidInput,
            Reason::EmergencyNoCallerId => callgate_reason::EmergencyNoCallerId,
            Reason::UnknownSite => callgate_reason::UnknownSite,
            Reason::UnknownNumber => callgate_reason::UnknownNumber,
            Reason::UnknownRecording => callgate_reason::UnknownRecording,
            Reason::InvalidDialString => callgate_reason::InvalidDialString,
        }
    }
}

/// The engine's reason for a C reason value.
pub fn reason_from_value(value: u32) -> Option<Reason> {
    match value {
        1 => Some(Reason::NumberPermitted),
        2 => Some(Reason::EmergencyCall),
        3 => Some(Reason::EmergencyCallback),
        4 => Some(Reason::NumberNotPermitted),
        5 => Some(Reason::NumberNotOwned),
        6 => Some(Reason::NoCallerIdRequested),
        7 => Some(Reason::NoPermittedCallerId),
        8 => Some(Reason::UnknownTenant),
        9 => Some(Reason::UnknownUser),
        10 => Some(Reason::UserSuspended),
        11 => Some(Reason::UnknownQueue),
        12 => Some(Reason::UnknownAgent),
        13 => Some(Reason::UnknownExtension),
        14 => Some(Reason::NotQueueMember),
        15 => Some(Reason::SelfPause),
        16 => Some(Reason::QueueSupervisor),
        17 => Some(Reason::QueueAgent),
        18 => Some(Reason::Permitted),
        19 => Some(Reason::ActionNotPermitted),
        20 => Some(Reason::OutOfScope),
        21 => Some(Reason::OwnExtension),
        22 => Some(Reason::NoOwnExtension),
        23 => Some(Reason::UnknownFeatureCode),
        24 => Some(Reason::RoleNotAllowed),
        25 => Some(Reason::MissingArgument),
        26 => Some(Reason::TooManyArguments),
        27 => Some(Reason::InvalidInput),
        28 => Some(Reason::EmergencyNoCallerId),
        29 => Some(Reason::UnknownSite),
        30 => Some(Reason::UnknownNumber),
        31 => Some(Reason::UnknownRecording),
        32 => Some(Reason::InvalidDialString),
        _ => None,
    }
}

/// What a feature code means. `NONE` when no code matched.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum callgate_feature {
    /// No feature code matched.
    None = 0,
    /// `queue_login_toggle`
    QueueLoginToggle = 1,
    /// `queue_pause_toggle`
    QueuePauseToggle = 2,
    /// `queue_callers`
    QueueCallers = 3,
    /// `call_forward_on`
    CallForwardOn = 4,
    /// `call_forward_off`
    CallForwardOff = 5,
    /// `voicemail_own`
    VoicemailOwn = 6,
    /// `voicemail_box`
    VoicemailBox = 7,
    /// `pickup_directed`
    PickupDirected = 8,
    /// `park`
    Park = 9,
}

impl From<Option<FeatureKind>> for callgate_feature {
    fn from(k: Option<FeatureKind>) -> callgate_feature {
        match k {
            None => callgate_feature::None,
            Some(FeatureKind::QueueLoginToggle) => callgate_feature::QueueLoginToggle,
            Some(FeatureKind::QueuePauseToggle) => callgate_feature::QueuePauseToggle,
            Some(FeatureKind::QueueCallers) => callgate_feature::QueueCallers,
            Some(FeatureKind::CallForwardOn) => callgate_feature::CallForwardOn,
            Some(FeatureKind::CallForwardOff) => callgate_feature::CallForwardOff,
            Some(FeatureKind::VoicemailOwn) => callgate_feature::VoicemailOwn,
            Some(FeatureKind::VoicemailBox) => callgate_feature::VoicemailBox,
            Some(FeatureKind::PickupDirected) => callgate_feature::PickupDirected,
            Some(FeatureKind::Park) => callgate_feature::Park,
        }
    }
}

/// The engine's feature kind for a C feature value.
pub fn feature_from_value(value: u32) -> Option<FeatureKind> {
    FeatureKind::ALL
        .into_iter()
        .find(|k| callgate_feature::from(Some(*k)) as u32 == value)
}

/// NUL-terminated copies of the engine's texts, made once.
struct Texts {
    reason_codes: Vec<CString>,
    reason_texts: Vec<CString>,
    features: Vec<CString>,
}

fn texts() -> &'static Texts {
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let c = |s: &str| CString::new(s).unwrap_or_default();
        let mut reasons: Vec<Reason> = Reason::ALL.to_vec();
        reasons.sort_by_key(|r| callgate_reason::from(*r) as u32);
        let features = FeatureKind::ALL.iter().map(|k| c(k.as_str())).collect();
        Texts {
            reason_codes: reasons.iter().map(|r| c(r.code())).collect(),
            reason_texts: reasons.iter().map(|r| c(r.text())).collect(),
            features,
        }
    })
}

/// The position of a reason's texts in [`Texts`] (values are dense from 1).
fn reason_slot(value: u32) -> Option<usize> {
    reason_from_value(value)?;
    usize::try_from(value).ok()?.checked_sub(1)
}

/// A sentence for a `callgate_result` value (unknown values get "unknown result").
///
/// The string is static: never free it. Never returns NULL. Takes the value as an integer so
/// that any number a C program holds is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_result_text(result: u32) -> *const c_char {
    ffi_panic_boundary! {
        RESULTS
            .into_iter()
            .find(|r| *r as u32 == result)
            .map_or(c"unknown result".as_ptr(), |r| r.text().as_ptr())
    }
}

/// `"allow"`, `"substitute"` or `"deny"` for a `callgate_outcome` value, `"unknown"` for
/// anything else. Static: never free it; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_outcome_text(outcome: u32) -> *const c_char {
    ffi_panic_boundary! {
        match outcome {
            0 => c"deny".as_ptr(),
            1 => c"allow".as_ptr(),
            2 => c"substitute".as_ptr(),
            _ => c"unknown".as_ptr(),
        }
    }
}

/// The stable snake_case code of a `callgate_reason` value (`"number_permitted"`, …), the
/// same the HTTP and SIP answers carry; `"unknown"` for a value this library doesn't know.
/// Static: never free it; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_reason_code(reason: u32) -> *const c_char {
    ffi_panic_boundary! {
        reason_slot(reason)
            .and_then(|i| texts().reason_codes.get(i))
            .map_or(c"unknown".as_ptr(), |s| s.as_ptr())
    }
}

/// A sentence explaining a `callgate_reason` value; `"unknown reason"` for a value this
/// library doesn't know. Static: never free it; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_reason_text(reason: u32) -> *const c_char {
    ffi_panic_boundary! {
        reason_slot(reason)
            .and_then(|i| texts().reason_texts.get(i))
            .map_or(c"unknown reason".as_ptr(), |s| s.as_ptr())
    }
}

/// The snake_case name of a `callgate_feature` value (`"queue_pause_toggle"`, …); `"none"`
/// for `CALLGATE_FEATURE_NONE`, `"unknown"` for anything else. Static: never free it; never
/// NULL.
#[unsafe(no_mangle)]
pub extern "C" fn callgate_feature_text(feature: u32) -> *const c_char {
    ffi_panic_boundary! {
        if feature == callgate_feature::None as u32 {
            return c"none".as_ptr();
        }
        match feature_from_value(feature) {
            Some(kind) => FeatureKind::ALL
                .iter()
                .position(|k| *k == kind)
                .and_then(|i| texts().features.get(i))
                .map_or(c"unknown".as_ptr(), |s| s.as_ptr()),
            None => c"unknown".as_ptr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::CStr;

    use super::*;

    fn text(p: *const c_char) -> &'static str {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn every_reason_has_its_own_value_and_round_trips() {
        let mut seen = HashSet::new();
        for r in Reason::ALL {
            let v = callgate_reason::from(*r) as u32;
            assert!(v > 0 && seen.insert(v), "{r:?} = {v}");
            assert!(
                v as usize <= Reason::ALL.len(),
                "reason values are dense from 1"
            );
            assert_eq!(reason_from_value(v), Some(*r));
            assert_eq!(text(callgate_reason_code(v)), r.code());
            assert_eq!(text(callgate_reason_text(v)), r.text());
        }
        assert_eq!(text(callgate_reason_code(0)), "unknown");
        assert_eq!(text(callgate_reason_code(9999)), "unknown");
    }

    #[test]
    fn every_feature_and_result_has_a_text() {
        for k in FeatureKind::ALL {
            assert_eq!(
                text(callgate_feature_text(callgate_feature::from(Some(k)) as u32)),
                k.as_str()
            );
        }
        assert_eq!(text(callgate_feature_text(0)), "none");
        assert_eq!(text(callgate_feature_text(77)), "unknown");
        for (i, r) in RESULTS.iter().enumerate() {
            assert_eq!(*r as u32, i as u32, "results are numbered densely from 0");
            assert_ne!(text(callgate_result_text(*r as u32)), "unknown result");
        }
        assert_eq!(text(callgate_result_text(1000)), "unknown result");
        assert_eq!(text(callgate_outcome_text(2)), "substitute");
    }
}
