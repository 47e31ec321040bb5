//! The five questions as one value: [`Check`] (what is asked), [`Answer`] (what the table
//! says) and [`DecisionKind`] (which of the five it is). Every front end builds a `Check` and
//! asks [`Table::check`]: the HTTP API deserialises one from a request body, the CLI from its
//! arguments, the SIP front end from an INVITE, the C ABI from its parameters (borrowing them:
//! no allocation). The audit trail records a check's [`DecisionKind`] and its
//! [`Check::fields`].
//!
//! Strings are [`Cow`]s, so a `Check` either borrows its inputs (the C ABI, SIP) or owns them
//! (deserialised); the decision is the same code either way.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::{Action, Category, UnknownName};
use crate::decide::{
    CallerIdAnswer, FeatureAnswer, Outcome, Principal, RecordingAction, Resource, Verdict,
};
use crate::reason::Reason;
use crate::table::Table;

/// Which of the five questions a check asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// May a user present this caller ID on this call?
    CallerId,
    /// May an actor pause (or unpause) a queue agent?
    AgentPause,
    /// May an actor list, play, download or delete a call's recording?
    Recording,
    /// May a user dial this feature code, and what does it mean?
    FeatureCode,
    /// May a user do an action on a category, over a resource?
    Permission,
}

impl DecisionKind {
    /// The five, in the order the HTTP API lists them.
    pub const ALL: [DecisionKind; 5] = [
        DecisionKind::CallerId,
        DecisionKind::AgentPause,
        DecisionKind::Recording,
        DecisionKind::FeatureCode,
        DecisionKind::Permission,
    ];

    /// Its name in the audit trail and metrics: `caller_id`, `agent_pause`, ….
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionKind::CallerId => "caller_id",
            DecisionKind::AgentPause => "agent_pause",
            DecisionKind::Recording => "recording",
            DecisionKind::FeatureCode => "feature_code",
            DecisionKind::Permission => "permission",
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DecisionKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DecisionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownName)
    }
}

/// A string input, borrowed or owned.
pub type Text<'a> = Cow<'a, str>;

/// A list input: borrowed (a C array read in place) or owned (deserialised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Texts<'a> {
    /// Borrowed strings.
    Borrowed(&'a [&'a str]),
    /// Owned strings.
    Owned(Vec<String>),
}

impl Default for Texts<'_> {
    fn default() -> Self {
        Texts::Borrowed(&[])
    }
}

impl Texts<'_> {
    /// The strings, in order.
    pub fn iter(&self) -> TextsIter<'_> {
        match self {
            Texts::Borrowed(b) => TextsIter::Borrowed(b.iter()),
            Texts::Owned(o) => TextsIter::Owned(o.iter()),
        }
    }
    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Texts::Borrowed(b) => b.len(),
            Texts::Owned(o) => o.len(),
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn input(&self) -> Input<'_> {
        match self {
            Texts::Borrowed(b) => Input::List(b),
            Texts::Owned(o) => Input::Strings(o),
        }
    }
}

/// The strings of a [`Texts`], in order: one slice walked, whichever kind it is (a chain of
/// the two kinds' iterators made recording checks measurably slower).
#[derive(Clone, Debug)]
pub enum TextsIter<'s> {
    /// Over borrowed strings.
    Borrowed(std::slice::Iter<'s, &'s str>),
    /// Over owned strings.
    Owned(std::slice::Iter<'s, String>),
}

impl<'s> Iterator for TextsIter<'s> {
    type Item = &'s str;

    #[inline]
    fn next(&mut self) -> Option<&'s str> {
        match self {
            TextsIter::Borrowed(i) => i.next().copied(),
            TextsIter::Owned(i) => i.next().map(String::as_str),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            TextsIter::Borrowed(i) => i.size_hint(),
            TextsIter::Owned(i) => i.size_hint(),
        }
    }
}

impl<'de> Deserialize<'de> for Texts<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(Texts::Owned)
    }
}

impl<'de> Deserialize<'de> for Principal<'_> {
    /// A user id (the HTTP API and the CLI name users; only SIP asks as an extension).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|u| Principal::User(Cow::Owned(u)))
    }
}

/// A caller-ID check: may `user` present `requested` on a call to `dialed`?
#[derive(Clone, Debug, Deserialize)]
pub struct CallerIdCheck<'a> {
    /// The tenant.
    pub tenant: Text<'a>,
    /// Who calls.
    pub user: Principal<'a>,
    /// The caller ID asked for (E.164, `+` optional), if any.
    #[serde(default)]
    pub requested: Option<Text<'a>>,
    /// What was dialed: digits or a whole `sip:`/`tel:`/`urn:service:` URI.
    pub dialed: Text<'a>,
    /// Whether whoever asks authenticated the caller: `Some` attests the answer (A or B only
    /// if `true`); `None` leaves the attestation out. Deserialised, a missing field is
    /// `Some(false)`: the HTTP API always attests.
    #[serde(default = "not_authenticated", deserialize_with = "attested")]
    pub authenticated: Option<bool>,
}

fn not_authenticated() -> Option<bool> {
    Some(false)
}

fn attested<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(d).map(Some)
}

/// An agent-pause check: may `actor` pause (or unpause) `agent` in `queue`?
#[derive(Clone, Debug, Deserialize)]
pub struct AgentPauseCheck<'a> {
    /// The tenant.
    pub tenant: Text<'a>,
    /// Who pauses.
    pub actor: Text<'a>,
    /// The agent paused.
    pub agent: Text<'a>,
    /// The queue (its id or its dial string).
    pub queue: Text<'a>,
    /// Pause (`true`) or unpause: the same rule decides both; it is kept for the audit trail.
    pub paused: bool,
}

/// The call a recording is of.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecordingOf<'a> {
    /// The queue the call came through.
    pub queue: Option<Text<'a>>,
    /// The extensions that took part.
    pub extensions: Texts<'a>,
    /// The numbers that took part.
    pub numbers: Texts<'a>,
    /// The site it was recorded at.
    pub site: Option<Text<'a>>,
}

/// A recording check: may `actor` do `action` to the recording of this call?
#[derive(Clone, Debug, Deserialize)]
pub struct RecordingCheck<'a> {
    /// The tenant.
    pub tenant: Text<'a>,
    /// Who asks.
    pub actor: Text<'a>,
    /// List, play, download or delete.
    pub action: RecordingAction,
    /// The call.
    pub recording: RecordingOf<'a>,
}

/// A feature-code check: may `user` dial `dialed`, and what does it mean?
#[derive(Clone, Debug, Deserialize)]
pub struct FeatureCodeCheck<'a> {
    /// The tenant.
    pub tenant: Text<'a>,
    /// Who dials.
    pub user: Principal<'a>,
    /// The digits (or a `sip:`/`tel:` URI).
    pub dialed: Text<'a>,
}

/// What a permission check is about (every part optional).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResourceOf<'a> {
    /// A site id.
    pub site: Option<Text<'a>>,
    /// A queue id (or its dial string).
    pub queue: Option<Text<'a>>,
    /// An extension.
    pub extension: Option<Text<'a>>,
    /// A number, E.164.
    pub number: Option<Text<'a>>,
}

/// A permission check: may `user` do `action` on `category`, over `resource`?
#[derive(Clone, Debug, Deserialize)]
pub struct PermissionCheck<'a> {
    /// The tenant.
    pub tenant: Text<'a>,
    /// Who asks.
    pub user: Text<'a>,
    /// The permission category.
    pub category: Category,
    /// The action on it.
    pub action: Action,
    /// What it is about.
    #[serde(default)]
    pub resource: ResourceOf<'a>,
}

/// One of the five questions.
#[derive(Clone, Debug)]
pub enum Check<'a> {
    /// [`CallerIdCheck`].
    CallerId(CallerIdCheck<'a>),
    /// [`AgentPauseCheck`].
    AgentPause(AgentPauseCheck<'a>),
    /// [`RecordingCheck`].
    Recording(RecordingCheck<'a>),
    /// [`FeatureCodeCheck`].
    FeatureCode(FeatureCodeCheck<'a>),
    /// [`PermissionCheck`].
    Permission(PermissionCheck<'a>),
}

/// One input of a check, as an audit record keeps it.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A string argument; `None` is left out of the record.
    Text(Option<&'a str>),
    /// An array argument, kept joined by commas; an empty one is left out.
    List(&'a [&'a str]),
    /// An array argument of owned strings, as [`Input::List`].
    Strings(&'a [String]),
    /// A boolean argument.
    Flag(bool),
}

/// One input of a check: its path in the HTTP body (`recording.extensions`) and its value.
#[derive(Clone, Copy, Debug)]
pub struct Field<'c> {
    /// Where it is in a request body: `tenant`, `user`, `resource.site`, ….
    pub path: &'static str,
    /// Its value.
    pub value: Input<'c>,
}

impl<'c> Field<'c> {
    const fn new(path: &'static str, value: Input<'c>) -> Field<'c> {
        Field { path, value }
    }
    fn text(path: &'static str, value: &'c str) -> Field<'c> {
        Field::new(path, Input::Text(Some(value)))
    }
    fn optional(path: &'static str, value: &'c Option<Text<'_>>) -> Field<'c> {
        Field::new(path, Input::Text(value.as_deref()))
    }
    /// Its name in the audit trail: the path's last part.
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

/// Most fields a check has (a permission check: tenant, user, category, action and four
/// resource parts).
const MOST_FIELDS: usize = 8;

impl<'a> Check<'a> {
    /// Which question it is.
    pub const fn kind(&self) -> DecisionKind {
        match self {
            Check::CallerId(_) => DecisionKind::CallerId,
            Check::AgentPause(_) => DecisionKind::AgentPause,
            Check::Recording(_) => DecisionKind::Recording,
            Check::FeatureCode(_) => DecisionKind::FeatureCode,
            Check::Permission(_) => DecisionKind::Permission,
        }
    }

    /// The tenant asked about.
    pub fn tenant(&self) -> &str {
        match self {
            Check::CallerId(c) => &c.tenant,
            Check::AgentPause(c) => &c.tenant,
            Check::Recording(c) => &c.tenant,
            Check::FeatureCode(c) => &c.tenant,
            Check::Permission(c) => &c.tenant,
        }
    }

    /// Who asks, as the audit trail names them: a user id, or `ext:` and an extension.
    pub fn principal(&self) -> [&str; 2] {
        fn of<'s>(p: &'s Principal<'_>) -> [&'s str; 2] {
            match p {
                Principal::User(u) => ["", u],
                Principal::Extension(e) => ["ext:", e],
            }
        }
        match self {
            Check::CallerId(c) => of(&c.user),
            Check::FeatureCode(c) => of(&c.user),
            Check::AgentPause(c) => ["", &c.actor],
            Check::Recording(c) => ["", &c.actor],
            Check::Permission(c) => ["", &c.user],
        }
    }

    /// Its inputs in order, tenant and principal first, as the HTTP API names them.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> {
        let list = match self {
            Check::CallerId(c) => fields([
                Field::text("tenant", &c.tenant),
                Field::text("user", c.user.name()),
                Field::optional("requested", &c.requested),
                Field::text("dialed", &c.dialed),
            ]),
            Check::AgentPause(c) => fields([
                Field::text("tenant", &c.tenant),
                Field::text("actor", &c.actor),
                Field::text("agent", &c.agent),
                Field::text("queue", &c.queue),
                Field::new("paused", Input::Flag(c.paused)),
            ]),
            Check::Recording(c) => {
                let r = &c.recording;
                fields([
                    Field::text("tenant", &c.tenant),
                    Field::text("actor", &c.actor),
                    Field::text("action", c.action.as_str()),
                    Field::optional("recording.queue", &r.queue),
                    Field::new("recording.extensions", r.extensions.input()),
                    Field::new("recording.numbers", r.numbers.input()),
                    Field::optional("recording.site", &r.site),
                ])
            }
            Check::FeatureCode(c) => fields([
                Field::text("tenant", &c.tenant),
                Field::text("user", c.user.name()),
                Field::text("dialed", &c.dialed),
            ]),
            Check::Permission(c) => {
                let r = &c.resource;
                fields([
                    Field::text("tenant", &c.tenant),
                    Field::text("user", &c.user),
                    Field::text("category", c.category.as_str()),
                    Field::text("action", c.action.as_str()),
                    Field::optional("resource.site", &r.site),
                    Field::optional("resource.queue", &r.queue),
                    Field::optional("resource.extension", &r.extension),
                    Field::optional("resource.number", &r.number),
                ])
            }
        };
        list.into_iter().flatten()
    }

    /// Its inputs after the tenant and the principal, by their audit names.
    pub fn inputs(&self) -> impl Iterator<Item = (&'static str, Input<'_>)> {
        self.fields().skip(2).map(|f| (f.name(), f.value))
    }
}

/// `list`, padded to [`MOST_FIELDS`] without allocating.
fn fields<const N: usize>(list: [Field<'_>; N]) -> [Option<Field<'_>>; MOST_FIELDS] {
    let mut out = [None; MOST_FIELDS];
    for (slot, field) in out.iter_mut().zip(list) {
        *slot = Some(field);
    }
    out
}

/// What the table says: a caller-ID answer, a yes/no verdict, or a feature-code answer. It
/// serialises as the answer it holds (the HTTP API's answer bodies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer<'d> {
    /// To a caller-ID check.
    CallerId(CallerIdAnswer),
    /// To an agent-pause, recording or permission check.
    Verdict(Verdict),
    /// To a feature-code check (its arguments may borrow what was dialed).
    FeatureCode(FeatureAnswer<'d>),
}

impl Answer<'_> {
    /// Allow, substitute or deny.
    pub fn outcome(&self) -> Outcome {
        match self {
            Answer::CallerId(a) => a.outcome,
            Answer::Verdict(v) => v.outcome,
            Answer::FeatureCode(a) => a.outcome,
        }
    }
    /// Why.
    pub fn reason(&self) -> Reason {
        match self {
            Answer::CallerId(a) => a.reason,
            Answer::Verdict(v) => v.reason,
            Answer::FeatureCode(a) => a.reason,
        }
    }
    /// The table's revision when it was decided.
    pub fn revision(&self) -> u64 {
        match self {
            Answer::CallerId(a) => a.revision,
            Answer::Verdict(v) => v.revision,
            Answer::FeatureCode(a) => a.revision,
        }
    }
}

impl Table {
    /// Answers any of the five questions: the one entry point every front end uses. Total,
    /// like each decision: an unknown tenant, user or resource is a denial with its reason.
    pub fn check<'d>(&self, check: &'d Check<'_>) -> Answer<'d> {
        match check {
            Check::CallerId(c) => Answer::CallerId(self.caller_id_attesting(
                &c.tenant,
                c.user.borrowed(),
                c.requested.as_deref(),
                &c.dialed,
                c.authenticated,
            )),
            Check::AgentPause(c) => {
                Answer::Verdict(self.check_agent_pause(&c.tenant, &c.actor, &c.agent, &c.queue))
            }
            Check::Recording(c) => {
                Answer::Verdict(self.recording_of(&c.tenant, &c.actor, c.action, &c.recording))
            }
            Check::FeatureCode(c) => Answer::FeatureCode(self.check_feature_code_as(
                &c.tenant,
                c.user.borrowed(),
                &c.dialed,
            )),
            Check::Permission(c) => {
                let r = &c.resource;
                let resource = Resource {
                    site: r.site.as_deref(),
                    queue: r.queue.as_deref(),
                    extension: r.extension.as_deref(),
                    number: r.number.as_deref(),
                };
                Answer::Verdict(
                    self.check_permission(&c.tenant, &c.user, c.category, c.action, &resource),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in DecisionKind::ALL {
            assert_eq!(kind.as_str().parse::<DecisionKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!("callerid".parse::<DecisionKind>().is_err());
    }

    #[test]
    fn a_deserialised_caller_id_check_is_attested_as_unauthenticated_unless_it_says() {
        let c: CallerIdCheck<'_> =
            serde_json::from_str(r#"{"tenant":"acme","user":"bob","dialed":"5551234"}"#).unwrap();
        assert_eq!(c.authenticated, Some(false));
        assert_eq!(c.user, Principal::User("bob".into()));
        let c: CallerIdCheck<'_> = serde_json::from_str(
            r#"{"tenant":"acme","user":"b\"ob","dialed":"911","authenticated":true}"#,
        )
        .unwrap();
        assert_eq!((c.authenticated, c.user.name()), (Some(true), "b\"ob"));
    }

    #[test]
    fn fields_name_every_input_in_order_and_inputs_leave_out_tenant_and_principal() {
        let check = Check::Recording(
            serde_json::from_str(
                r#"{"tenant":"acme","actor":"sam","action":"play",
                    "recording":{"queue":"sales","extensions":["201","202"]}}"#,
            )
            .unwrap(),
        );
        let paths: Vec<&str> = check.fields().map(|f| f.path).collect();
        assert_eq!(
            paths,
            [
                "tenant",
                "actor",
                "action",
                "recording.queue",
                "recording.extensions",
                "recording.numbers",
                "recording.site"
            ]
        );
        let names: Vec<&str> = check.inputs().map(|(n, _)| n).collect();
        assert_eq!(names, ["action", "queue", "extensions", "numbers", "site"]);
        assert_eq!(check.principal(), ["", "sam"]);
        assert_eq!(
            (check.kind(), check.tenant()),
            (DecisionKind::Recording, "acme")
        );

        let by_extension = Check::FeatureCode(FeatureCodeCheck {
            tenant: "acme".into(),
            user: Principal::Extension("201".into()),
            dialed: "*46".into(),
        });
        assert_eq!(by_extension.principal(), ["ext:", "201"]);
    }

    #[test]
    fn borrowed_and_owned_lists_read_the_same() {
        let owned = Texts::Owned(vec!["201".into(), "202".into()]);
        let borrowed = Texts::Borrowed(&["201", "202"]);
        assert!(owned.iter().eq(borrowed.iter()));
        assert_eq!((owned.len(), Texts::default().is_empty()), (2, true));
    }

    #[test]
    fn recording_actions_and_principals_read_back_by_name() {
        use crate::decide::RecordingAction as A;
        for (action, name) in [
            (A::List, "list"),
            (A::Play, "play"),
            (A::Download, "download"),
            (A::Delete, "delete"),
        ] {
            assert_eq!(action.as_str(), name);
            assert_eq!(name.parse::<A>(), Ok(action));
        }
        assert!("listen".parse::<A>().is_err());
        assert_eq!(Principal::from("bob").name(), "bob");
        assert_eq!(Principal::Extension("201".into()).name(), "201");
    }
}
