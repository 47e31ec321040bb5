//! Feature codes (star codes): the kinds, the default table, and longest-prefix matching.

use std::fmt;
use std::str::FromStr;

use crate::catalog::UnknownName;

/// What a star code does. Each kind has its own authorization rule (see [`crate::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// `*45[*queue]`: log in or out of a queue (all the caller's queues if none given).
    QueueLoginToggle,
    /// `*46[*queue]` / `*46*ext*queue`: pause or unpause an agent.
    QueuePauseToggle,
    /// `*47*queue`: hear how many callers wait.
    QueueCallers,
    /// `*72*target`: forward the caller's own extension.
    CallForwardOn,
    /// `*73`: stop forwarding.
    CallForwardOff,
    /// `*97`: the caller's own voicemail box.
    VoicemailOwn,
    /// `*98[*ext]`: a voicemail box by extension.
    VoicemailBox,
    /// `**ext`: pick up a call ringing at an extension.
    PickupDirected,
    /// `*70`: park the current call.
    Park,
}

impl FeatureKind {
    /// Every kind.
    pub const ALL: [FeatureKind; 9] = [
        FeatureKind::QueueLoginToggle,
        FeatureKind::QueuePauseToggle,
        FeatureKind::QueueCallers,
        FeatureKind::CallForwardOn,
        FeatureKind::CallForwardOff,
        FeatureKind::VoicemailOwn,
        FeatureKind::VoicemailBox,
        FeatureKind::PickupDirected,
        FeatureKind::Park,
    ];

    /// The kind's snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FeatureKind::QueueLoginToggle => "queue_login_toggle",
            FeatureKind::QueuePauseToggle => "queue_pause_toggle",
            FeatureKind::QueueCallers => "queue_callers",
            FeatureKind::CallForwardOn => "call_forward_on",
            FeatureKind::CallForwardOff => "call_forward_off",
            FeatureKind::VoicemailOwn => "voicemail_own",
            FeatureKind::VoicemailBox => "voicemail_box",
            FeatureKind::PickupDirected => "pickup_directed",
            FeatureKind::Park => "park",
        }
    }
}

impl FromStr for FeatureKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        FeatureKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownName)
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FeatureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Every tenant's starting table; its own entries override or extend it code by code.
pub const DEFAULT_CODES: [(&str, FeatureKind); 9] = [
    ("*45", FeatureKind::QueueLoginToggle),
    ("*46", FeatureKind::QueuePauseToggle),
    ("*47", FeatureKind::QueueCallers),
    ("*72", FeatureKind::CallForwardOn),
    ("*73", FeatureKind::CallForwardOff),
    ("*97", FeatureKind::VoicemailOwn),
    ("*98", FeatureKind::VoicemailBox),
    ("**", FeatureKind::PickupDirected),
    ("*70", FeatureKind::Park),
];

/// If `code` prefixes `dialed` at a boundary, the rest: the args, still `*`-separated.
///
/// The code must be followed by nothing, by `*`, or end in `*` itself (so `**201` is `**`
/// with arg `201`, while `*461` is not `*46`). A trailing `#` (send key) is ignored.
pub fn match_code<'d>(code: &str, dialed: &'d str) -> Option<&'d str> {
    let dialed = dialed.strip_suffix('#').unwrap_or(dialed);
    let rest = dialed.strip_prefix(code)?;
    if rest.is_empty() || code.ends_with('*') {
        Some(rest)
    } else {
        rest.strip_prefix('*')
    }
}

/// Splits the args after a matched code: `201*sales` → `201`, `sales`. Empty pieces are
/// dropped, so `*46**sales` has one arg.
pub fn split_args(rest: &str) -> impl Iterator<Item = &str> {
    rest.split('*').filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_at_a_boundary_only() {
        assert_eq!(match_code("*46", "*46"), Some(""));
        assert_eq!(match_code("*46", "*46*201*600"), Some("201*600"));
        assert_eq!(match_code("*46", "*461"), None);
        assert_eq!(match_code("**", "**201"), Some("201"));
        assert_eq!(match_code("*46", "*46*600#"), Some("600"));
        assert_eq!(match_code("*45", "*46"), None);
    }
}
