//! The five decisions. Each is total: whatever the input, it returns an answer with a
//! [`Reason`] and the revision it was decided at; nothing here fails, panics or allocates.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use crate::attest::{self, Attestation};
use crate::catalog::{Action, Category};
use crate::check::RecordingOf;
use crate::dial;
use crate::feature::{self, FeatureKind};
use crate::number::E164;
use crate::reason::Reason;
use crate::table::{
    CompiledTenant, ExtEntry, NumberEntry, Pos, QueueEntry, REACH_GRANTED, REACH_MEMBER, REACH_OWN,
    REACH_SITE, REACH_SUPERVISED, REACH_TENANT, Reach, RoleRef, SiteEntry, Table, UserEntry,
    contains,
};

/// The three ways a decision comes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Go ahead as asked.
    Allow,
    /// Go ahead, with the caller ID in the answer instead of the one asked for.
    Substitute,
    /// Refuse.
    Deny,
}

impl Outcome {
    /// `allow`, `substitute` or `deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Substitute => "substitute",
            Outcome::Deny => "deny",
        }
    }
}

/// A yes/no answer (pause, recording, permission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Allow or deny.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// Why.
    pub reason: Reason,
    /// The table's revision when it was decided.
    pub revision: u64,
}

impl Verdict {
    fn allow(reason: Reason, revision: u64) -> Verdict {
        Verdict {
            outcome: Outcome::Allow,
            reason,
            revision,
        }
    }
    fn deny(reason: Reason, revision: u64) -> Verdict {
        Verdict {
            outcome: Outcome::Deny,
            reason,
            revision,
        }
    }
    /// Whether it allows.
    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// The answer to a caller-ID check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CallerIdAnswer {
    /// Allow, substitute or deny.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// The caller ID to present (absent on deny, and on an emergency call with none at all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<E164>,
    /// Why.
    pub reason: Reason,
    /// The table's revision when it was decided.
    pub revision: u64,
    /// Its STIR/SHAKEN attestation, when asked for ([`Table::check_caller_id_attested`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

/// A feature code's argument, resolved where it names something: a queue's id, an
/// extension, or the dialed digits themselves (a forwarding target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg<'d> {
    /// Text from the table, shared.
    Id(Arc<str>),
    /// Text from what was dialed.
    Dialed(&'d str),
}

impl Arg<'_> {
    /// The argument's text.
    pub fn as_str(&self) -> &str {
        match self {
            Arg::Id(s) => s,
            Arg::Dialed(s) => s,
        }
    }
}

/// Up to two feature-code arguments, without allocating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args<'d>([Option<Arg<'d>>; 2]);

impl<'d> Args<'d> {
    fn of(args: [Option<Arg<'d>>; 2]) -> Args<'d> {
        Args(args)
    }
    /// The arguments, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flatten().map(Arg::as_str)
    }
}

impl Serialize for Args<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// The answer to a feature-code check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeatureAnswer<'d> {
    /// Allow or deny.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// The feature the code means (absent when no code matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<FeatureKind>,
    /// Its arguments, resolved.
    pub args: Args<'d>,
    /// Why.
    pub reason: Reason,
    /// The table's revision when it was decided.
    pub revision: u64,
}

/// What a permission check is about. Every field is optional; a check with none is a
/// page-level question ("may this user view call history at all?").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resource<'a> {
    /// A site id.
    pub site: Option<&'a str>,
    /// A queue id (or its dial string).
    pub queue: Option<&'a str>,
    /// An extension.
    pub extension: Option<&'a str>,
    /// A number, E.164.
    pub number: Option<&'a str>,
}

/// What is done with a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingAction {
    /// See it in a list.
    List,
    /// Listen to it.
    Play,
    /// Take a copy.
    Download,
    /// Remove it.
    Delete,
}

impl RecordingAction {
    /// `list`, `play`, `download` or `delete`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordingAction::List => "list",
            RecordingAction::Play => "play",
            RecordingAction::Download => "download",
            RecordingAction::Delete => "delete",
        }
    }

    /// The permission the action needs on `call_recordings`.
    pub const fn action(self) -> Action {
        match self {
            RecordingAction::List | RecordingAction::Play => Action::View,
            RecordingAction::Download => Action::Download,
            RecordingAction::Delete => Action::Delete,
        }
    }
}

impl std::str::FromStr for RecordingAction {
    type Err = crate::catalog::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "list" => Ok(RecordingAction::List),
            "play" => Ok(RecordingAction::Play),
            "download" => Ok(RecordingAction::Download),
            "delete" => Ok(RecordingAction::Delete),
            _ => Err(crate::catalog::UnknownName),
        }
    }
}

/// The call a recording is of: its queue, the extensions and numbers on it, its site.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recording<'a> {
    /// The queue the call came through.
    pub queue: Option<&'a str>,
    /// The extensions that took part.
    pub extensions: &'a [&'a str],
    /// The numbers that took part.
    pub numbers: &'a [&'a str],
    /// The site it was recorded at.
    pub site: Option<&'a str>,
}

/// The parties to a recorded call, however a front end holds them: a [`Recording`]'s
/// borrowed slices, or a [`Check`](crate::check::Check)'s [`RecordingOf`] (borrowed or owned
/// strings). The recording rule is generic over it, so each shape is decided by code compiled
/// for it: one rule, and no conversion or per-string branch on the engine's own path.
pub trait Parties {
    /// The queue the call came through.
    fn queue(&self) -> Option<&str>;
    /// The site it was recorded at.
    fn site(&self) -> Option<&str>;
    /// The extensions that took part.
    fn extensions(&self) -> impl Iterator<Item = &str>;
    /// Whether any extension took part.
    #[inline]
    fn any_extension(&self) -> bool {
        self.extensions().next().is_some()
    }
    /// The numbers that took part.
    fn numbers(&self) -> impl Iterator<Item = &str>;
}

impl Parties for Recording<'_> {
    #[inline]
    fn queue(&self) -> Option<&str> {
        self.queue
    }
    #[inline]
    fn site(&self) -> Option<&str> {
        self.site
    }
    #[inline]
    fn extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().copied()
    }
    #[inline]
    fn numbers(&self) -> impl Iterator<Item = &str> {
        self.numbers.iter().copied()
    }
}

impl Parties for RecordingOf<'_> {
    #[inline]
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    #[inline]
    fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }
    #[inline]
    fn extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter()
    }
    #[inline]
    fn numbers(&self) -> impl Iterator<Item = &str> {
        self.numbers.iter()
    }
}

/// Who asks, as the front end knows them: a user id (a portal, or a proxy that
/// authenticated the caller), or the extension a call comes from, whose owner is the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal<'a> {
    /// A user id.
    User(Cow<'a, str>),
    /// The owner of this extension (no owner: no user).
    Extension(Cow<'a, str>),
}

impl Principal<'_> {
    /// The user id or the extension, as given.
    pub fn name(&self) -> &str {
        match self {
            Principal::User(s) | Principal::Extension(s) => s,
        }
    }

    /// The same principal, borrowed.
    pub fn borrowed(&self) -> Principal<'_> {
        match self {
            Principal::User(u) => Principal::User(Cow::Borrowed(u)),
            Principal::Extension(e) => Principal::Extension(Cow::Borrowed(e)),
        }
    }

    /// The user id in `t` (empty, so unknown, when an extension has no owner).
    fn resolve<'s>(&'s self, t: &'s CompiledTenant) -> &'s str {
        match self {
            Principal::User(u) => u,
            Principal::Extension(e) => t.owner_of(e).unwrap_or(""),
        }
    }
}

impl<'a> From<&'a str> for Principal<'a> {
    fn from(user: &'a str) -> Principal<'a> {
        Principal::User(Cow::Borrowed(user))
    }
}

impl<'a> From<&'a String> for Principal<'a> {
    fn from(user: &'a String) -> Principal<'a> {
        Principal::User(Cow::Borrowed(user))
    }
}

/// An active user of a tenant, or why there isn't one.
#[inline]
fn active_user<'t>(
    t: &'t CompiledTenant,
    user: &str,
) -> Result<(Pos<UserEntry>, &'t UserEntry), Reason> {
    match t.users.get(user) {
        None => Err(Reason::UnknownUser),
        Some((_, u)) if !u.active => Err(Reason::UserSuspended),
        Some(found) => Ok(found),
    }
}

impl Table {
    /// May `user` present `requested` as caller ID on a call to `dialed`? See DESIGN.md's
    /// caller-ID rule. `dialed` may be digits or a whole `sip:`/`tel:`/`urn:service:` URI
    /// ([`dial::target`]). Emergency calls are never denied, whatever the tenant, user or
    /// table state, and never present a number the tenant doesn't own.
    #[inline]
    pub fn check_caller_id<'p>(
        &self,
        tenant: &str,
        user: impl Into<Principal<'p>>,
        requested: Option<&str>,
        dialed: &str,
    ) -> CallerIdAnswer {
        self.check_caller_id_as(tenant, user.into(), requested, dialed)
    }

    /// [`Table::check_caller_id`] for a [`Principal`] (compiled once, here).
    pub fn check_caller_id_as(
        &self,
        tenant: &str,
        user: Principal<'_>,
        requested: Option<&str>,
        dialed: &str,
    ) -> CallerIdAnswer {
        self.caller_id_attesting(tenant, user, requested, dialed, None)
    }

    /// [`Table::check_caller_id`] with the answer's STIR/SHAKEN [`Attestation`] (see
    /// [`crate::attest`]): `authenticated` is whether whoever asks authenticated the caller.
    pub fn check_caller_id_attested<'p>(
        &self,
        tenant: &str,
        user: impl Into<Principal<'p>>,
        requested: Option<&str>,
        dialed: &str,
        authenticated: bool,
    ) -> CallerIdAnswer {
        self.caller_id_attesting(tenant, user.into(), requested, dialed, Some(authenticated))
    }

    /// The caller-ID check, attested when `authenticated` says whether the caller was (a
    /// constant `None` compiles the attestation away).
    #[inline(always)]
    pub(crate) fn caller_id_attesting(
        &self,
        tenant: &str,
        user: Principal<'_>,
        requested: Option<&str>,
        dialed: &str,
        authenticated: Option<bool>,
    ) -> CallerIdAnswer {
        let revision = self.revision();
        let target = dial::target(dialed);
        let Some(t) = self.read(tenant) else {
            let emergency = self.is_emergency_target(target, |_| false);
            let mut a = unknown_tenant_caller_id(emergency, revision);
            if let Some(authenticated) = authenticated {
                a.attestation = attest::attest(None, "", &a, authenticated);
            }
            return a;
        };
        let emergency = self.is_emergency_target(target, |k| t.emergency.contains(k));
        let user = user.resolve(&t);
        let mut a = caller_id_in(&t, user, requested, emergency, revision);
        if let Some(authenticated) = authenticated {
            a.attestation = attest::attest(Some(&t), user, &a, authenticated);
        }
        a
    }

    /// May `actor` pause (or unpause: one rule decides both) `agent` in `queue`?
    /// ([`crate::Check::AgentPause`] also says which was asked, for the audit trail.)
    pub fn check_agent_pause(
        &self,
        tenant: &str,
        actor: &str,
        agent: &str,
        queue: &str,
    ) -> Verdict {
        let revision = self.revision();
        match self.read(tenant) {
            Some(t) => agent_pause(&t, actor, agent, queue, revision),
            None => Verdict::deny(Reason::UnknownTenant, revision),
        }
    }

    /// May `actor` do `action` to the recording of this call?
    pub fn check_recording(
        &self,
        tenant: &str,
        actor: &str,
        action: RecordingAction,
        recording: &Recording<'_>,
    ) -> Verdict {
        self.recording_of(tenant, actor, action, recording)
    }

    /// [`Table::check_recording`] for the call as any front end holds it: a [`Recording`]'s
    /// slices, or a [`Check`](crate::check::Check)'s [`RecordingOf`].
    #[inline(always)]
    pub(crate) fn recording_of(
        &self,
        tenant: &str,
        actor: &str,
        action: RecordingAction,
        recording: &impl Parties,
    ) -> Verdict {
        let revision = self.revision();
        match self.read(tenant) {
            Some(t) => recording_access(&t, actor, action, recording, revision),
            None => Verdict::deny(Reason::UnknownTenant, revision),
        }
    }

    /// May `user` dial `dialed`, a feature code, and what does it mean? `dialed` is the
    /// digits (a SIP front end decodes the Request-URI user's escapes) or a `sip:`/`tel:` URI,
    /// whose user part is taken as it is. An emergency target is allowed first; then a dial
    /// string with anything but dial characters is denied (`invalid_dial_string`).
    #[inline]
    pub fn check_feature_code<'d, 'p>(
        &self,
        tenant: &str,
        user: impl Into<Principal<'p>>,
        dialed: &'d str,
    ) -> FeatureAnswer<'d> {
        self.check_feature_code_as(tenant, user.into(), dialed)
    }

    /// [`Table::check_feature_code`] for a [`Principal`] (compiled once, here).
    pub fn check_feature_code_as<'d>(
        &self,
        tenant: &str,
        user: Principal<'_>,
        dialed: &'d str,
    ) -> FeatureAnswer<'d> {
        let revision = self.revision();
        let target = dial::target(dialed);
        let Some(t) = self.read(tenant) else {
            let reason = if self.is_emergency_target(target, |_| false) {
                Reason::EmergencyCall
            } else if !dial::is_dial_text(dial::user_part(dialed)) {
                Reason::InvalidDialString
            } else {
                Reason::UnknownTenant
            };
            return feature_answer(reason, revision);
        };
        let emergency = self.is_emergency_target(target, |k| t.emergency.contains(k));
        feature_code_in(&t, user.resolve(&t), dialed, emergency, revision)
    }

    /// May `user` do `action` on `category`, over `resource`?
    pub fn check_permission(
        &self,
        tenant: &str,
        user: &str,
        category: Category,
        action: Action,
        resource: &Resource<'_>,
    ) -> Verdict {
        let revision = self.revision();
        match self.read(tenant) {
            Some(t) => permission(&t, user, category, action, resource, revision),
            None => Verdict::deny(Reason::UnknownTenant, revision),
        }
    }
}

/// A tenant the table doesn't know: an emergency call still goes out, asserting no number
/// (nothing is known to be the caller's); anything else is denied.
fn unknown_tenant_caller_id(emergency: bool, revision: u64) -> CallerIdAnswer {
    if emergency {
        CallerIdAnswer {
            outcome: Outcome::Allow,
            caller_id: None,
            reason: Reason::EmergencyNoCallerId,
            revision,
            attestation: None,
        }
    } else {
        CallerIdAnswer {
            outcome: Outcome::Deny,
            caller_id: None,
            reason: Reason::UnknownTenant,
            revision,
            attestation: None,
        }
    }
}

#[inline(always)]
fn caller_id_in(
    t: &CompiledTenant,
    user: &str,
    requested: Option<&str>,
    emergency: bool,
    revision: u64,
) -> CallerIdAnswer {
    let answer = |outcome, caller_id, reason| CallerIdAnswer {
        outcome,
        caller_id,
        reason,
        revision,
        attestation: None,
    };
    let found = t.users.get(user).map(|(_, u)| u);
    if emergency {
        return emergency_caller_id(t, found, requested, revision);
    }
    let requested = requested.filter(|r| !r.trim().is_empty());
    let requested_number = requested.and_then(E164::parse_lenient);
    let owned = requested_number.and_then(|n| t.number(n));

    // The user found above, held to the same rule as `active_user` (no second lookup).
    let u = match found {
        None => return answer(Outcome::Deny, None, Reason::UnknownUser),
        Some(u) if !u.active => return answer(Outcome::Deny, None, Reason::UserSuspended),
        Some(u) => u,
    };
    let fallback = |reason, none_reason| match default_caller_id(t, u) {
        Some(n) => answer(Outcome::Substitute, Some(n), reason),
        None => answer(Outcome::Deny, None, none_reason),
    };
    match (requested, owned) {
        (None, _) => fallback(Reason::NoCallerIdRequested, Reason::NoPermittedCallerId),
        (Some(_), None) => fallback(Reason::NumberNotOwned, Reason::NumberNotOwned),
        (Some(_), Some((pos, _))) if may_present(t, u, pos) => {
            answer(Outcome::Allow, requested_number, Reason::NumberPermitted)
        }
        (Some(_), Some(_)) => fallback(Reason::NumberNotPermitted, Reason::NoPermittedCallerId),
    }
}

/// The caller ID of an emergency call: never denied, and never a number nobody checked — the
/// caller's permitted requested number, else the callback order, else no caller ID at all.
/// Kept out of line (and cold) so the ordinary caller-ID check stays small.
#[cold]
#[inline(never)]
fn emergency_caller_id(
    t: &CompiledTenant,
    found: Option<&UserEntry>,
    requested: Option<&str>,
    revision: u64,
) -> CallerIdAnswer {
    let answer = |outcome, caller_id, reason| CallerIdAnswer {
        outcome,
        caller_id,
        reason,
        revision,
        attestation: None,
    };
    let owned = requested
        .and_then(E164::parse_lenient)
        .and_then(|n| t.number(n));
    if let (Some(u), Some((pos, n))) = (found, owned)
        && u.active
        && may_present(t, u, pos)
    {
        return answer(Outcome::Allow, Some(n.number), Reason::EmergencyCall);
    }
    match emergency_callback(t, found) {
        Some(n) => answer(Outcome::Substitute, Some(n), Reason::EmergencyCallback),
        None => answer(Outcome::Allow, None, Reason::EmergencyNoCallerId),
    }
}

/// Whether `u` may present the tenant's number at `pos`: a number in the reach of a
/// `phone_numbers:edit` permission, a granted number, or a DID routed to their own extension.
pub fn may_present(t: &CompiledTenant, u: &UserEntry, pos: Pos<NumberEntry>) -> bool {
    if u.granted_numbers().contains(pos) {
        return true;
    }
    let Some(n) = t.numbers.at(pos) else {
        return false;
    };
    if u.role.get().scope != crate::catalog::Scope::None
        && let Some(e) = n.ext
        && u.own_exts().contains(e)
    {
        return true;
    }
    let (_, reach) = t.reach(u, Category::PhoneNumbers, Action::Edit);
    number_in_reach(t, u, reach, pos)
}

fn default_caller_id(t: &CompiledTenant, u: &UserEntry) -> Option<E164> {
    u.default_caller_id
        .or(t.default_caller_id)
        .and_then(|p| t.numbers.at(p))
        .map(|n| n.number)
}

/// The number an emergency call presents when the caller can't present their own: the DID of
/// their extension, their site's emergency callback number, their default, the tenant's.
pub fn emergency_callback(t: &CompiledTenant, u: Option<&UserEntry>) -> Option<E164> {
    let number = |p: Pos<NumberEntry>| t.numbers.at(p).map(|n| n.number);
    if let Some(u) = u {
        let own_did = u
            .own_exts()
            .iter()
            .filter_map(|e| t.exts.at(e))
            .filter(|e| e.did.is_some())
            .min_by(|a, b| a.ext.cmp(&b.ext))
            .and_then(|e| e.did);
        if let Some(n) = own_did.and_then(number) {
            return Some(n);
        }
        let site_callback = t
            .user_site(u)
            .and_then(|s| t.sites.at(s))
            .and_then(|s| s.emergency_callback);
        if let Some(n) = site_callback.and_then(number) {
            return Some(n);
        }
        if let Some(n) = u.default_caller_id.and_then(number) {
            return Some(n);
        }
    }
    t.default_caller_id.and_then(number)
}

fn number_in_reach(t: &CompiledTenant, u: &UserEntry, reach: Reach, pos: Pos<NumberEntry>) -> bool {
    if reach & REACH_TENANT != 0 {
        return true;
    }
    let Some(n) = t.numbers.at(pos) else {
        return false;
    };
    (reach & REACH_SITE != 0 && n.site.is_some() && n.site == t.user_site(u))
        || (reach & REACH_OWN != 0 && n.ext.is_some_and(|e| u.own_exts().contains(e)))
        || (reach & REACH_GRANTED != 0 && u.granted_numbers().contains(pos))
}

fn ext_in_reach(t: &CompiledTenant, u: &UserEntry, reach: Reach, pos: Pos<ExtEntry>) -> bool {
    if reach & REACH_TENANT != 0 {
        return true;
    }
    let Some(e) = t.exts.at(pos) else {
        return false;
    };
    (reach & REACH_SITE != 0 && e.site.is_some() && e.site == t.user_site(u))
        || (reach & REACH_OWN != 0 && u.own_exts().contains(pos))
        || (reach & REACH_GRANTED != 0 && u.granted_exts().contains(pos))
}

fn queue_in_reach(t: &CompiledTenant, u: &UserEntry, reach: Reach, pos: Pos<QueueEntry>) -> bool {
    if reach & REACH_TENANT != 0 {
        return true;
    }
    let Some(q) = t.queues.at(pos) else {
        return false;
    };
    (reach & REACH_SITE != 0 && q.site.is_some() && q.site == t.user_site(u))
        || (reach & REACH_MEMBER != 0 && u.agent_of().contains(pos))
        || (reach & REACH_SUPERVISED != 0 && u.supervises().contains(pos))
        || (reach & REACH_GRANTED != 0 && u.granted_queues().contains(pos))
}

/// A [`Resource`]'s parts, found in the tenant's directory.
#[derive(Clone, Copy, Default)]
struct Found {
    site: Option<Pos<SiteEntry>>,
    queue: Option<Pos<QueueEntry>>,
    ext: Option<Pos<ExtEntry>>,
    number: Option<Pos<NumberEntry>>,
}

/// Finds every named part of `r` in the tenant, in the order site, queue, extension,
/// number: a part the tenant doesn't have is a denial with its own reason, whatever the
/// asker's scope (deny by default: a portal with global ids can't act across tenants).
fn find_resource(t: &CompiledTenant, r: &Resource<'_>) -> Result<Found, Reason> {
    let site = match r.site {
        None => None,
        Some(s) => Some(t.sites.find(s).ok_or(Reason::UnknownSite)?),
    };
    let queue = match r.queue {
        None => None,
        Some(q) => Some(t.queue(q).ok_or(Reason::UnknownQueue)?.0),
    };
    let ext = match r.extension {
        None => None,
        Some(e) => Some(t.exts.find(e).ok_or(Reason::UnknownExtension)?),
    };
    let number = match r.number {
        None => None,
        Some(n) => Some(
            E164::parse_lenient(n)
                .and_then(|n| t.number(n))
                .ok_or(Reason::UnknownNumber)?
                .0,
        ),
    };
    Ok(Found {
        site,
        queue,
        ext,
        number,
    })
}

/// Whether every part of a found resource is within `reach` (an extension's site is the
/// directory's, not the caller's say-so).
fn resource_in_reach(t: &CompiledTenant, u: &UserEntry, reach: Reach, r: Found) -> bool {
    if reach & REACH_TENANT != 0 {
        return true;
    }
    let site_ok = r
        .site
        .is_none_or(|s| reach & REACH_SITE != 0 && Some(s) == t.user_site(u));
    let queue_ok = r.queue.is_none_or(|p| queue_in_reach(t, u, reach, p));
    let ext_ok = r.ext.is_none_or(|p| ext_in_reach(t, u, reach, p));
    let number_ok = r.number.is_none_or(|p| number_in_reach(t, u, reach, p));
    site_ok && queue_ok && ext_ok && number_ok
}

/// The general permission check, on one tenant.
pub fn permission(
    t: &CompiledTenant,
    user: &str,
    category: Category,
    action: Action,
    resource: &Resource<'_>,
    revision: u64,
) -> Verdict {
    let u = match active_user(t, user) {
        Ok((_, u)) => u,
        Err(reason) => return Verdict::deny(reason, revision),
    };
    let found = match find_resource(t, resource) {
        Ok(found) => found,
        Err(reason) => return Verdict::deny(reason, revision),
    };
    let (any, reach) = t.reach(u, category, action);
    if !any {
        Verdict::deny(Reason::ActionNotPermitted, revision)
    } else if resource_in_reach(t, u, reach, found) {
        // A page-level question (no resource) finds nothing, and nothing is in every reach.
        Verdict::allow(Reason::Permitted, revision)
    } else {
        Verdict::deny(Reason::OutOfScope, revision)
    }
}

/// The pause rule, on one tenant.
pub fn agent_pause(
    t: &CompiledTenant,
    actor: &str,
    agent: &str,
    queue: &str,
    revision: u64,
) -> Verdict {
    let Some((qpos, q)) = t.queue(queue) else {
        return Verdict::deny(Reason::UnknownQueue, revision);
    };
    let (actor_pos, actor) = match active_user(t, actor) {
        Ok(found) => found,
        Err(reason) => return Verdict::deny(reason, revision),
    };
    let Some(agent_pos) = t.users.find(agent) else {
        return Verdict::deny(Reason::UnknownAgent, revision);
    };
    pause_rule(t, actor_pos, actor, agent_pos, qpos, q, revision)
}

fn pause_rule(
    t: &CompiledTenant,
    actor_pos: Pos<UserEntry>,
    actor: &UserEntry,
    agent_pos: Pos<UserEntry>,
    qpos: Pos<QueueEntry>,
    q: &QueueEntry,
    revision: u64,
) -> Verdict {
    if !contains(&q.agents, agent_pos) {
        return Verdict::deny(Reason::NotQueueMember, revision);
    }
    if actor_pos == agent_pos {
        return Verdict::allow(Reason::SelfPause, revision);
    }
    if contains(&q.supervisors, actor_pos) {
        return Verdict::allow(Reason::QueueSupervisor, revision);
    }
    let (any, reach) = t.reach(actor, Category::CallQueues, Action::Edit);
    scoped(any, queue_in_reach(t, actor, reach, qpos), revision)
}

/// The recording rule, on one tenant.
pub fn recording_access(
    t: &CompiledTenant,
    actor: &str,
    action: RecordingAction,
    rec: &impl Parties,
    revision: u64,
) -> Verdict {
    let u = match active_user(t, actor) {
        Ok((_, u)) => u,
        Err(reason) => return Verdict::deny(reason, revision),
    };
    match recording_reach(t, u, action, rec) {
        Ok((any, in_reach)) => scoped(any, in_reach, revision),
        Err(reason) => Verdict::deny(reason, revision),
    }
}

/// Whether `u` may do `action` to recordings at all, and whether this recording is within
/// their reach; or why the recording is not one of this tenant's.
///
/// A recording is of this tenant if its site, queue and extensions are the tenant's and it
/// names at least one thing the tenant has. Its numbers may be outside parties' (a PSTN
/// caller): a number the tenant doesn't own is no error, and reaches no one. Those errors
/// come first, in that order, whatever the user's rights.
///
/// It is within reach if any party to its call is: tenant scope sees all; site scope its
/// site's; assigned scope its granted or supervised queues, granted extensions and numbers
/// (and its own); self scope the calls of its own extensions.
///
/// One pass over the parties: each is looked up once, for both questions.
fn recording_reach(
    t: &CompiledTenant,
    u: &UserEntry,
    action: RecordingAction,
    rec: &impl Parties,
) -> Result<(bool, bool), Reason> {
    let site = match rec.site() {
        Some(s) => Some(t.sites.find(s).ok_or(Reason::UnknownSite)?),
        None => None,
    };
    let queue = match rec.queue() {
        Some(q) => Some(t.queue(q).ok_or(Reason::UnknownQueue)?),
        None => None,
    };
    let (any, reach) = t.reach(u, Category::CallRecordings, action.action());
    // No right to the action at all: the answer is no whatever the reach, so reach nothing.
    let reach = if any { reach } else { 0 };
    let has = |bit: Reach| reach & bit != 0;
    let user_site = if has(REACH_SITE) {
        t.user_site(u)
    } else {
        None
    };
    let at_user_site = |s: Option<Pos<SiteEntry>>| user_site.is_some() && s == user_site;

    let mut in_reach = has(REACH_TENANT)
        || (site.is_some() && at_user_site(site))
        || queue.is_some_and(|(qpos, q)| {
            (has(REACH_SUPERVISED) && u.supervises().contains(qpos))
                || (has(REACH_GRANTED) && u.granted_queues().contains(qpos))
                || at_user_site(q.site)
        });
    for e in rec.extensions() {
        let (pos, ext) = t.exts.get(e).ok_or(Reason::UnknownExtension)?;
        in_reach = in_reach
            || (has(REACH_OWN) && u.own_exts().contains(pos))
            || (has(REACH_GRANTED) && u.granted_exts().contains(pos))
            || at_user_site(ext.site);
    }
    let mut names_something = site.is_some() || queue.is_some() || rec.any_extension();
    if !(names_something && in_reach) {
        for n in rec.numbers() {
            let Some((pos, number)) = E164::parse_lenient(n).and_then(|n| t.number(n)) else {
                continue;
            };
            names_something = true;
            in_reach = in_reach
                || (has(REACH_GRANTED) && u.granted_numbers().contains(pos))
                || at_user_site(number.site);
            if in_reach {
                break;
            }
        }
    }
    if names_something {
        Ok((any, in_reach))
    } else {
        Err(Reason::UnknownRecording)
    }
}

fn feature_answer<'d>(reason: Reason, revision: u64) -> FeatureAnswer<'d> {
    let outcome = if reason == Reason::EmergencyCall {
        Outcome::Allow
    } else {
        Outcome::Deny
    };
    FeatureAnswer {
        outcome,
        feature: None,
        args: Args::default(),
        reason,
        revision,
    }
}

fn feature_code_in<'d>(
    t: &CompiledTenant,
    user: &str,
    dialed: &'d str,
    emergency: bool,
    revision: u64,
) -> FeatureAnswer<'d> {
    if emergency {
        return feature_answer(Reason::EmergencyCall, revision);
    }
    let dialed = dial::user_part(dialed);
    if !dial::is_dial_text(dialed) {
        return feature_answer(Reason::InvalidDialString, revision);
    }
    let (upos, u) = match active_user(t, user) {
        Ok(found) => found,
        Err(reason) => return feature_answer(reason, revision),
    };
    let Some((entry, rest)) = t
        .codes
        .iter()
        .find_map(|c| feature::match_code(&c.code, dialed).map(|rest| (c, rest)))
    else {
        return feature_answer(Reason::UnknownFeatureCode, revision);
    };
    let feature = Some(entry.feature);
    if let Some(roles) = &entry.roles {
        let allowed = roles.iter().any(|r| match *r {
            RoleRef::Builtin(role) => role == u.role,
            RoleRef::Custom(c) => u.custom_role == Some(c),
        });
        if !allowed {
            return FeatureAnswer {
                outcome: Outcome::Deny,
                feature,
                args: Args::default(),
                reason: Reason::RoleNotAllowed,
                revision,
            };
        }
    }
    let mut args = feature::split_args(rest);
    let (a1, a2, extra) = (args.next(), args.next(), args.next().is_some());
    let caller = Caller {
        t,
        u,
        upos,
        revision,
    };
    let decided = if extra {
        Err(Reason::TooManyArguments)
    } else {
        match entry.feature {
            FeatureKind::QueueLoginToggle | FeatureKind::QueuePauseToggle if a1.is_none() => {
                caller.own_queue_toggle(entry.feature)
            }
            FeatureKind::QueueLoginToggle => caller.queue_login(a1, a2),
            FeatureKind::QueuePauseToggle => caller.queue_pause(a1, a2),
            FeatureKind::QueueCallers => caller.queue_callers(a1, a2),
            FeatureKind::CallForwardOn | FeatureKind::CallForwardOff => {
                caller.call_forward(entry.feature, a1, a2)
            }
            FeatureKind::VoicemailOwn => caller.voicemail_own(a1),
            FeatureKind::VoicemailBox => caller.voicemail_box(a1, a2),
            FeatureKind::PickupDirected => caller.pickup_directed(a1, a2),
            FeatureKind::Park => caller.park(a1),
        }
    };
    let (verdict, args) =
        decided.unwrap_or_else(|reason| (Verdict::deny(reason, revision), [None, None]));
    FeatureAnswer {
        outcome: verdict.outcome,
        feature,
        args: if verdict.allowed() {
            Args::of(args)
        } else {
            Args::default()
        },
        reason: verdict.reason,
        revision,
    }
}

/// What a feature code decides to: the verdict and its arguments (kept only if it allows),
/// or the reason to deny it outright.
type Decided<'d> = Result<(Verdict, [Option<Arg<'d>>; 2]), Reason>;

/// The active user dialing a feature code, with what each feature's rule needs.
struct Caller<'t> {
    t: &'t CompiledTenant,
    u: &'t UserEntry,
    upos: Pos<UserEntry>,
    revision: u64,
}

/// A resolved argument: an id from the table.
fn id(s: &Arc<str>) -> Option<Arg<'static>> {
    Some(Arg::Id(Arc::clone(s)))
}

impl<'t> Caller<'t> {
    fn allow<'d>(&self, reason: Reason, args: [Option<Arg<'d>>; 2]) -> Decided<'d> {
        Ok((Verdict::allow(reason, self.revision), args))
    }

    /// A queue by id or dial string: its position, entry and id.
    fn queue(
        &self,
        q: &str,
    ) -> Result<(Pos<QueueEntry>, &'t QueueEntry, Option<Arg<'static>>), Reason> {
        self.t
            .queue(q)
            .map(|(p, q)| (p, q, id(&q.id)))
            .ok_or(Reason::UnknownQueue)
    }

    /// The caller's first own extension.
    fn own_ext(&self) -> Option<(Pos<ExtEntry>, &'t ExtEntry)> {
        self.u
            .own_exts()
            .iter()
            .filter_map(|e| self.t.exts.at(e).map(|x| (e, x)))
            .min_by(|a, b| a.1.ext.cmp(&b.1.ext))
    }

    /// `*45` / `*46` with no argument: the caller toggles itself in its own queues.
    fn own_queue_toggle<'d>(&self, feature: FeatureKind) -> Decided<'d> {
        if self.u.agent_of().is_empty() {
            return Err(Reason::NotQueueMember);
        }
        let reason = if feature == FeatureKind::QueuePauseToggle {
            Reason::SelfPause
        } else {
            Reason::QueueAgent
        };
        self.allow(reason, [None, None])
    }

    /// `*45*queue`: log in or out of a queue the caller is an agent of.
    fn queue_login<'d>(&self, a1: Option<&'d str>, a2: Option<&'d str>) -> Decided<'d> {
        if a2.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (qpos, _, qid) = self.queue(a1.ok_or(Reason::UnknownQueue)?)?;
        if self.u.agent_of().contains(qpos) {
            self.allow(Reason::QueueAgent, [qid, None])
        } else {
            Err(Reason::NotQueueMember)
        }
    }

    /// `*46*queue`: the caller pauses itself; `*46*ext*queue`: the owner of ext.
    fn queue_pause<'d>(&self, a1: Option<&'d str>, a2: Option<&'d str>) -> Decided<'d> {
        let (agent, queue) = match (a1, a2) {
            (Some(q), None) => (None, q),
            (Some(e), Some(q)) => (Some(e), q),
            _ => return Err(Reason::MissingArgument),
        };
        let (qpos, q, qid) = self.queue(queue)?;
        let (agent_pos, ext_arg) = match agent {
            None => (self.upos, None),
            Some(e) => {
                let (_, ext) = self.t.exts.get(e).ok_or(Reason::UnknownExtension)?;
                (ext.owner.ok_or(Reason::UnknownAgent)?, id(&ext.ext))
            }
        };
        let verdict = pause_rule(self.t, self.upos, self.u, agent_pos, qpos, q, self.revision);
        Ok(match ext_arg {
            Some(ext) => (verdict, [Some(ext), qid]),
            None => (verdict, [qid, None]),
        })
    }

    /// `*47*queue`: hear who waits in a queue: its agents, or who may view it.
    fn queue_callers<'d>(&self, a1: Option<&'d str>, a2: Option<&'d str>) -> Decided<'d> {
        let q = a1.ok_or(Reason::MissingArgument)?;
        if a2.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (qpos, _, qid) = self.queue(q)?;
        if self.u.agent_of().contains(qpos) {
            return self.allow(Reason::QueueAgent, [qid, None]);
        }
        let (any, reach) = self.t.reach(self.u, Category::CallQueues, Action::View);
        let in_reach = queue_in_reach(self.t, self.u, reach, qpos);
        Ok((scoped(any, in_reach, self.revision), [qid, None]))
    }

    /// Call forwarding on (with a target) or off, on the caller's own extension.
    fn call_forward<'d>(
        &self,
        feature: FeatureKind,
        a1: Option<&'d str>,
        a2: Option<&'d str>,
    ) -> Decided<'d> {
        let target = match (feature, a1, a2) {
            (FeatureKind::CallForwardOn, Some(target), None) => Some(Arg::Dialed(target)),
            (FeatureKind::CallForwardOn, None, _) => return Err(Reason::MissingArgument),
            (FeatureKind::CallForwardOff, None, _) => None,
            _ => return Err(Reason::TooManyArguments),
        };
        let (epos, ext) = self.own_ext().ok_or(Reason::NoOwnExtension)?;
        Ok(self.on_ext(Category::Extensions, Action::Edit, epos, ext, target))
    }

    /// The caller's own voicemail.
    fn voicemail_own<'d>(&self, a1: Option<&'d str>) -> Decided<'d> {
        if a1.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (_, ext) = self.own_ext().ok_or(Reason::NoOwnExtension)?;
        self.allow(Reason::OwnExtension, [id(&ext.ext), None])
    }

    /// Any voicemail box (the caller's `voicemail:view` reach), or the prompt for one.
    fn voicemail_box<'d>(&self, a1: Option<&'d str>, a2: Option<&'d str>) -> Decided<'d> {
        if a2.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (any, reach) = self.t.reach(self.u, Category::Voicemail, Action::View);
        let Some(e) = a1 else {
            return Ok((self.permitted(any), [None, None]));
        };
        let (epos, ext) = self.t.exts.get(e).ok_or(Reason::UnknownExtension)?;
        Ok(self.scoped_ext(any, reach, epos, ext, None))
    }

    /// Directed pickup of an extension in the caller's `pickup_groups:view` reach.
    fn pickup_directed<'d>(&self, a1: Option<&'d str>, a2: Option<&'d str>) -> Decided<'d> {
        let e = a1.ok_or(Reason::MissingArgument)?;
        if a2.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (epos, ext) = self.t.exts.get(e).ok_or(Reason::UnknownExtension)?;
        Ok(self.on_ext(Category::PickupGroups, Action::View, epos, ext, None))
    }

    /// Park a call: any `parking_lots:view`.
    fn park<'d>(&self, a1: Option<&'d str>) -> Decided<'d> {
        if a1.is_some() {
            return Err(Reason::TooManyArguments);
        }
        let (any, _) = self.t.reach(self.u, Category::ParkingLots, Action::View);
        Ok((self.permitted(any), [None, None]))
    }

    /// `category:action` over an extension, as the caller's reach has it; the extension
    /// (and `then`) as the arguments.
    fn on_ext<'d>(
        &self,
        category: Category,
        action: Action,
        epos: Pos<ExtEntry>,
        ext: &ExtEntry,
        then: Option<Arg<'d>>,
    ) -> (Verdict, [Option<Arg<'d>>; 2]) {
        let (any, reach) = self.t.reach(self.u, category, action);
        self.scoped_ext(any, reach, epos, ext, then)
    }

    /// [`Caller::on_ext`] with the reach already looked up.
    fn scoped_ext<'d>(
        &self,
        any: bool,
        reach: Reach,
        epos: Pos<ExtEntry>,
        ext: &ExtEntry,
        then: Option<Arg<'d>>,
    ) -> (Verdict, [Option<Arg<'d>>; 2]) {
        let in_reach = ext_in_reach(self.t, self.u, reach, epos);
        (scoped(any, in_reach, self.revision), [id(&ext.ext), then])
    }

    /// Allowed if the caller holds the permission at all.
    fn permitted(&self, any: bool) -> Verdict {
        if any {
            Verdict::allow(Reason::Permitted, self.revision)
        } else {
            Verdict::deny(Reason::ActionNotPermitted, self.revision)
        }
    }
}

fn scoped(any: bool, in_reach: bool, revision: u64) -> Verdict {
    match (any, in_reach) {
        (false, _) => Verdict::deny(Reason::ActionNotPermitted, revision),
        (true, true) => Verdict::allow(Reason::Permitted, revision),
        (true, false) => Verdict::deny(Reason::OutOfScope, revision),
    }
}
