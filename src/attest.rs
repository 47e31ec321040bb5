//! STIR/SHAKEN attestation from a caller-ID answer.
//!
//! ATIS-1000074 §5.2.3 gives an originating provider three levels: **A** (full) when it "has
//! authenticated the calling party and they are authorized to use the calling number", **B**
//! (partial) when it "has authenticated the call origination, but cannot verify the call source
//! is authorized to use the calling number", **C** (gateway) otherwise. callgate knows exactly
//! that at call time, so every caller-ID answer carries one:
//!
//! | the answer | caller authenticated | level | reason |
//! |---|---|---|---|
//! | deny, or no caller ID at all (an emergency call with no number anywhere) | either | none | — |
//! | a number | no | `C` | `caller_not_authenticated` |
//! | a number the user (active, known) may present, or their own default caller ID | yes | `A` | `user_may_present` |
//! | a number of the tenant the user may not present (the tenant default substituted, an emergency callback for an unknown or suspended user) | yes | `B` | `number_not_tied_to_user` |
//!
//! "Authenticated" is the caller's word: the proxy set `X-Callgate-User` after it
//! authenticated the caller (SIP), or the HTTP or C caller says so. An identity taken from the
//! From header is not authenticated. A number callgate presents is always one the tenant owns.

use serde::Serialize;

use crate::decide::{CallerIdAnswer, Outcome, may_present};
use crate::reason::Reason;
use crate::table::CompiledTenant;

/// An attestation level (RFC 8588 `attest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Level {
    /// Full: the caller is authenticated and may present the number.
    A,
    /// Partial: the customer is authenticated, the number is not tied to the caller.
    B,
    /// Gateway: the caller is not authenticated.
    C,
}

impl Level {
    /// `A`, `B` or `C`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::A => "A",
            Level::B => "B",
            Level::C => "C",
        }
    }
}

/// Why a call gets the level it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The authenticated caller may present the number, or it is their own default (level A).
    UserMayPresent,
    /// The caller is authenticated but may not present the number (level B).
    NumberNotTiedToUser,
    /// Nobody vouched for who is calling (level C).
    CallerNotAuthenticated,
}

impl Basis {
    /// The reason's code, as it appears in answers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Basis::UserMayPresent => "user_may_present",
            Basis::NumberNotTiedToUser => "number_not_tied_to_user",
            Basis::CallerNotAuthenticated => "caller_not_authenticated",
        }
    }
}

/// A caller-ID answer's attestation: its level, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Attestation {
    /// `A`, `B` or `C`.
    pub level: Level,
    /// Why.
    pub reason: Basis,
}

impl Attestation {
    const fn new(level: Level, reason: Basis) -> Attestation {
        Attestation { level, reason }
    }
}

/// The attestation of `answer`, given to `user` of `t` (`None` for an unknown tenant).
pub(crate) fn attest(
    t: Option<&CompiledTenant>,
    user: &str,
    answer: &CallerIdAnswer,
    authenticated: bool,
) -> Option<Attestation> {
    let number = answer.caller_id?;
    if answer.outcome == Outcome::Deny {
        return None;
    }
    if !authenticated {
        return Some(Attestation::new(Level::C, Basis::CallerNotAuthenticated));
    }
    // These two reasons are given only when the active user may present the number.
    if matches!(
        answer.reason,
        Reason::NumberPermitted | Reason::EmergencyCall
    ) {
        return Some(Attestation::new(Level::A, Basis::UserMayPresent));
    }
    let tied = t.is_some_and(|t| {
        let user = t.users.get(user).map(|(_, u)| u).filter(|u| u.active);
        let pos = t.number(number).map(|(pos, _)| pos);
        // A number the user may present, or the one the admin made their own default.
        matches!((user, pos), (Some(u), Some(pos))
            if u.default_caller_id == Some(pos) || may_present(t, u, pos))
    });
    Some(if tied {
        Attestation::new(Level::A, Basis::UserMayPresent)
    } else {
        Attestation::new(Level::B, Basis::NumberNotTiedToUser)
    })
}
