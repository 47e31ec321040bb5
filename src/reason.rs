//! Why a decision came out as it did: stable snake_case codes, each with a sentence.

use std::fmt;

macro_rules! reasons {
    ($( $(#[$m:meta])* $variant:ident = $code:literal, $text:literal; )+) => {
        /// A decision's reason. The codes are stable: clients match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reason { $( $(#[$m])* $variant ),+ }

        impl Reason {
            /// Every reason.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The stable snake_case code.
            pub const fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code),+ }
            }

            /// A sentence for people.
            pub const fn text(self) -> &'static str {
                match self { $(Reason::$variant => $text),+ }
            }
        }
    };
}

reasons! {
    /// The requested caller ID is one the user may present.
    NumberPermitted = "number_permitted", "the user may present this number";
    /// An emergency call keeps the caller ID the user may present.
    EmergencyCall = "emergency_call", "emergency calls are never blocked";
    /// An emergency call goes out with the caller's callback number.
    EmergencyCallback = "emergency_callback", "emergency call: the caller's emergency callback number is presented";
    /// An emergency call with no number the caller may present and no callback number: it
    /// goes out with no caller ID from callgate, never with an unchecked one.
    EmergencyNoCallerId = "emergency_no_caller_id", "emergency call: no permitted or callback number, so no caller ID is asserted";
    /// The requested number isn't one the user may present; their default is used.
    NumberNotPermitted = "number_not_permitted", "the user may not present this number";
    /// The requested number isn't the tenant's.
    NumberNotOwned = "number_not_owned", "the tenant does not own this number";
    /// No caller ID was asked for; the default is used.
    NoCallerIdRequested = "no_caller_id_requested", "no caller ID was requested";
    /// Nothing the user may present, and no default.
    NoPermittedCallerId = "no_permitted_caller_id", "the user has no permitted caller ID and no default";
    /// The tenant isn't known.
    UnknownTenant = "unknown_tenant", "no such tenant";
    /// The user (or actor) isn't known in the tenant.
    UnknownUser = "unknown_user", "no such user in this tenant";
    /// The user (or actor) is suspended.
    UserSuspended = "user_suspended", "the user is suspended";
    /// The queue isn't known in the tenant.
    UnknownQueue = "unknown_queue", "no such queue in this tenant";
    /// The agent isn't known in the tenant.
    UnknownAgent = "unknown_agent", "no such agent in this tenant";
    /// The site isn't known in the tenant.
    UnknownSite = "unknown_site", "no such site in this tenant";
    /// The number isn't one the tenant owns.
    UnknownNumber = "unknown_number", "no such number in this tenant";
    /// The recording names nothing of this tenant.
    UnknownRecording = "unknown_recording", "the recording names no queue, site, extension or number of this tenant";
    /// The extension isn't known in the tenant.
    UnknownExtension = "unknown_extension", "no such extension in this tenant";
    /// The agent isn't an agent of the queue.
    NotQueueMember = "not_queue_member", "the agent is not an agent of this queue";
    /// An agent pausing or unpausing itself.
    SelfPause = "self_pause", "agents may pause and unpause themselves";
    /// The actor supervises the queue.
    QueueSupervisor = "queue_supervisor", "the actor supervises this queue";
    /// The caller is an agent of the queue.
    QueueAgent = "queue_agent", "the caller is an agent of this queue";
    /// A role, grant or toggle gives the action, and the resource is in its scope.
    Permitted = "permitted", "the user's role and grants permit this";
    /// No role, grant or toggle gives the action.
    ActionNotPermitted = "action_not_permitted", "the user's role and grants do not permit this action";
    /// The action is given, but not over this resource.
    OutOfScope = "out_of_scope", "the resource is outside the user's scope";
    /// The caller owns the extension the feature works on.
    OwnExtension = "own_extension", "the caller's own extension";
    /// The caller owns no extension.
    NoOwnExtension = "no_own_extension", "the caller has no extension of their own";
    /// No feature code matches.
    UnknownFeatureCode = "unknown_feature_code", "no feature code matches what was dialed";
    /// The code's allowlist doesn't name the user's roles.
    RoleNotAllowed = "role_not_allowed", "the feature code is limited to other roles";
    /// The code needs an argument that wasn't dialed.
    MissingArgument = "missing_argument", "the feature code needs an argument";
    /// Too many arguments for the code.
    TooManyArguments = "too_many_arguments", "the feature code was dialed with too many arguments";
    /// The dialed string holds characters no dial string has (a control character, `<`, `@`, …).
    InvalidDialString = "invalid_dial_string", "the dialed string holds characters a dial string may not";
    /// The input could not be read (a bad category, action, or text).
    InvalidInput = "invalid_input", "the request could not be understood";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}
