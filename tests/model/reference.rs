//! A second, deliberately plain implementation of callgate's five decisions, read straight
//! off the directory model (`callgate::model::Tenant`), to be read line by line beside
//! DESIGN.md. No compiled table, no indexes, no bit sets: every question walks the tenant's
//! lists. Where DESIGN.md is silent, the engine's documented choice is followed and the
//! comment says so (look for "ENGINE CHOICE").
//!
//! The built-in roles' matrices and scopes are taken from `callgate::catalog::BUILTIN_ROLES`:
//! the catalog *is* the specification of the roles (each entry quotes its seed). Everything
//! else (reach, grants, toggles, custom roles, the decisions, the feature-code table,
//! emergency handling, number parsing) is written again here.

use callgate::catalog::{BUILTIN_ROLES, BuiltinRole};
use callgate::model::{Extension, Number, Queue, Tenant, User};
use callgate::{Action, Category, RecordingAction};

/// An answer, in the shape both the model and the engine can be projected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `allow`, `substitute` or `deny`.
    pub decision: &'static str,
    /// The reason code.
    pub reason: &'static str,
    /// The caller ID presented (caller-ID checks only).
    pub caller_id: Option<String>,
    /// The feature a code means (feature-code checks only).
    pub feature: Option<&'static str>,
    /// The feature code's resolved arguments.
    pub args: Vec<String>,
}

impl Answer {
    fn new(decision: &'static str, reason: &'static str) -> Answer {
        Answer {
            decision,
            reason,
            caller_id: None,
            feature: None,
            args: Vec::new(),
        }
    }
    /// `allow` for `reason`.
    pub fn allow(reason: &'static str) -> Answer {
        Answer::new("allow", reason)
    }
    /// `deny` for `reason`.
    pub fn deny(reason: &'static str) -> Answer {
        Answer::new("deny", reason)
    }
    fn with_caller_id(mut self, number: Option<String>) -> Answer {
        self.caller_id = number;
        self
    }
    /// Whether the answer lets the call or action go ahead as asked.
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }
}

// =====================================================================================
// Emergency numbers
// =====================================================================================

/// The platform-wide emergency list (the daemon's default configuration).
pub const PLATFORM_EMERGENCY: [&str; 7] = ["112", "911", "999", "000", "110", "118", "119"];

/// Percent-decodes `%XX` escapes; a malformed escape is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The user part of a dialed string, as the brief's normalisation says, but before visual
/// separators are dropped: a `sip:`/`sips:`/`tel:` URI gives its user part (before `@`),
/// `;params` are dropped, percent-escapes decoded.
fn dial_user_part(dialed: &str) -> String {
    let mut s = dialed.trim();
    let lower = s.to_ascii_lowercase();
    for scheme in ["sips:", "sip:", "tel:"] {
        if lower.starts_with(scheme) {
            s = s.get(scheme.len()..).unwrap_or("");
            if let Some((user, _host)) = s.split_once('@') {
                s = user;
            }
            break;
        }
    }
    if let Some((before, _params)) = s.split_once(';') {
        s = before;
    }
    percent_decode(s)
}

/// A feature code's dial string: a URI's user part, escapes left as they are.
fn feature_user_part(dialed: &str) -> String {
    let trimmed = dialed.trim();
    let lower = trimmed.to_ascii_lowercase();
    for scheme in ["sips:", "sip:", "tel:"] {
        if lower.starts_with(scheme) {
            let rest = trimmed.get(scheme.len()..).unwrap_or("");
            let end = rest.find(['@', ';', '?', ':']).unwrap_or(rest.len());
            return rest.get(..end).unwrap_or("").to_string();
        }
    }
    dialed.to_string()
}

/// The dialed string normalised: user part, separators `-` `.` `(` `)` and spaces dropped,
/// one trailing `#` dropped.
pub fn normalise_dialed(dialed: &str) -> String {
    let user = dial_user_part(dialed);
    let kept: String = user
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    match kept.strip_suffix('#') {
        Some(rest) => rest.to_string(),
        None => kept,
    }
}

/// Whether the dialed string is `urn:service:sos` or `urn:service:sos.*`, any case.
fn is_sos_urn(dialed: &str) -> bool {
    let user = dial_user_part(dialed).to_ascii_lowercase();
    user == "urn:service:sos" || user.starts_with("urn:service:sos.")
}

/// Whether the dialed string's user part is `sos`, any case: `sip:sos@host`, `sos@host`,
/// `sos`. The user part ends at `@`, `;` or `?` (and in a URI at `:`), and is compared as
/// sent, before any escape is decoded. ENGINE CHOICE: DESIGN.md names the emergency numbers and
/// `urn:service:sos`; the engine also takes SIP's `sos` user (RFC 5031's SIP form) as an
/// emergency call, the safe side of "emergency numbers are never blocked".
fn is_sos_user(dialed: &str) -> bool {
    let s = dialed.trim();
    let lower = s.to_ascii_lowercase();
    let (user, uri) = match ["sips:", "sip:", "tel:"]
        .iter()
        .find(|p| lower.starts_with(*p))
    {
        Some(scheme) => (s.get(scheme.len()..).unwrap_or(""), true),
        None => (s, false),
    };
    let end = user
        .find(|c: char| c == '@' || c == ';' || c == '?' || (uri && c == ':'))
        .unwrap_or(user.len());
    user.get(..end).unwrap_or("").eq_ignore_ascii_case("sos")
}

/// Whether `dialed` reaches emergency services for `tenant` (`None`: an unknown tenant, which
/// has the platform list only).
pub fn is_emergency(tenant: Option<&Tenant>, dialed: &str) -> bool {
    if is_sos_urn(dialed) || is_sos_user(dialed) {
        return true;
    }
    let n = normalise_dialed(dialed);
    if PLATFORM_EMERGENCY.contains(&n.as_str()) {
        return true;
    }
    match tenant {
        Some(t) => t.emergency_numbers.contains(&n),
        None => false,
    }
}

// =====================================================================================
// Numbers
// =====================================================================================

/// What a request presents as a number, as `+<digits>`: `+` optional, visual separators
/// (`-`, `.`, space, parentheses) ignored, 1 to 15 digits, the first not `0`. ENGINE CHOICE:
/// DESIGN.md does not say how lenient a request may be; the engine reads every requested or
/// named number this way (`E164::parse_lenient`).
pub fn request_number(text: &str) -> Option<String> {
    let text = text.trim();
    let body = text.strip_prefix('+').unwrap_or(text);
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if matches!(c, '-' | '.' | ' ' | '(' | ')') {
            continue;
        } else {
            return None;
        }
    }
    if digits.is_empty() || digits.len() > 15 || digits.starts_with('0') {
        return None;
    }
    Some(format!("+{digits}"))
}

/// The tenant's number a request names, if it owns it.
fn owned_number<'t>(t: &'t Tenant, text: &str) -> Option<&'t Number> {
    let wanted = request_number(text)?;
    t.numbers.iter().find(|n| n.number == wanted)
}

/// A number of the tenant by its exact directory text (defaults, grants).
fn number_by_text<'t>(t: &'t Tenant, text: &str) -> Option<&'t Number> {
    t.numbers.iter().find(|n| n.number == text)
}

// =====================================================================================
// Users, their extensions, their site
// =====================================================================================

fn find_user<'t>(t: &'t Tenant, id: &str) -> Option<&'t User> {
    t.users.iter().find(|u| u.id == id)
}

fn is_active(u: &User) -> bool {
    u.status.as_deref() != Some("suspended")
}

/// "Unknown tenant, unknown user and suspended user are denials."
fn active_user<'t>(t: &'t Tenant, id: &str) -> Result<&'t User, &'static str> {
    match find_user(t, id) {
        None => Err("unknown_user"),
        Some(u) if !is_active(u) => Err("user_suspended"),
        Some(u) => Ok(u),
    }
}

/// The extensions a user owns, lowest first (by their text).
fn own_extensions<'t>(t: &'t Tenant, u: &User) -> Vec<&'t Extension> {
    let mut mine: Vec<&Extension> = t
        .extensions
        .iter()
        .filter(|e| e.user.as_deref() == Some(u.id.as_str()))
        .collect();
    mine.sort_by(|a, b| a.ext.cmp(&b.ext));
    mine
}

/// The caller's own extension a feature works on: their lowest.
fn lowest_own_extension<'t>(t: &'t Tenant, u: &User) -> Option<&'t Extension> {
    own_extensions(t, u).into_iter().next()
}

fn owns_extension(u: &User, e: &Extension) -> bool {
    e.user.as_deref() == Some(u.id.as_str())
}

/// Whether a number is routed to one of the user's own extensions.
fn routed_to_own_extension(t: &Tenant, u: &User, n: &Number) -> bool {
    match &n.extension {
        Some(ext) => t
            .extensions
            .iter()
            .any(|e| e.ext == *ext && owns_extension(u, e)),
        None => false,
    }
}

/// The user's site. ENGINE CHOICE (DESIGN.md says only "the user's site"): their own `site`,
/// else the site of the first of their extensions (lowest first) that has one.
fn user_site<'t>(t: &'t Tenant, u: &'t User) -> Option<&'t str> {
    if let Some(s) = &u.site {
        return Some(s);
    }
    own_extensions(t, u)
        .into_iter()
        .find_map(|e| e.site.as_deref())
}

fn queue_by_id_or_number<'t>(t: &'t Tenant, key: &str) -> Option<&'t Queue> {
    t.queues
        .iter()
        .find(|q| q.id == key)
        .or_else(|| t.queues.iter().find(|q| q.number.as_deref() == Some(key)))
}

fn is_agent(u: &User, q: &Queue) -> bool {
    q.agents.contains(&u.id)
}

fn supervises(u: &User, q: &Queue) -> bool {
    q.supervisors.contains(&u.id)
}

fn agent_of_any_queue(t: &Tenant, u: &User) -> bool {
    t.queues.iter().any(|q| is_agent(u, q))
}

// =====================================================================================
// Who may do what, and over which resources
// =====================================================================================

/// Which resources one permission-giving clause reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every resource of the tenant.
    Tenant,
    /// Resources at the user's site.
    Site,
    /// The user's own extensions, the numbers routed to them.
    Own,
    /// The extensions, queues and numbers in the user's grants.
    Granted,
    /// The queues the user supervises.
    Supervised,
    /// The queues the user is an agent of.
    Member,
}

/// What a scope reaches (DESIGN.md "Role ... plus a scope"). ENGINE CHOICE (the catalog's
/// documentation of `Scope`): site scope also reaches the user's own resources.
fn scope_reach(scope: &str) -> Vec<Reach> {
    match scope {
        "tenant" => vec![Reach::Tenant],
        "site" => vec![Reach::Site, Reach::Own],
        "assigned" => vec![Reach::Own, Reach::Granted, Reach::Supervised],
        "self" => vec![Reach::Own],
        _ => vec![],
    }
}

fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|r| r.name == name)
}

/// The per-user feature toggles (seed 002: "Other Feature Toggles | Wallboard, Voicemail,
/// SMS, Email Reports, and more"): name, category, actions, scope. ENGINE CHOICE: which
/// category, actions and scope each opens is the engine's (DESIGN.md lists the names only).
const TOGGLES: &[(&str, &str, &[&str], &str)] = &[
    ("wallboard", "wallboard", &["view"], "assigned"),
    (
        "voicemail",
        "voicemail",
        &["view", "create", "edit", "delete"],
        "self",
    ),
    ("sms", "sms", &["view", "create", "edit"], "self"),
    ("fax", "fax", &["view", "create", "edit"], "self"),
    ("email_reports", "reports", &["view"], "assigned"),
    ("billing", "billing", &["view"], "tenant"),
    (
        "contacts",
        "contacts",
        &["view", "create", "edit", "delete"],
        "tenant",
    ),
    (
        "supervisor_workspace",
        "supervisor_workspace",
        &["view"],
        "assigned",
    ),
    (
        "call_recording_download",
        "call_recordings",
        &["download"],
        "assigned",
    ),
];

/// The categories `full_call_report_access` and resource grants open, for `view`: "All call
/// logs, reports, call recordings" (and dashboards: analytics).
const REPORTING: [&str; 4] = ["call_history", "call_recordings", "reports", "analytics"];

/// Every clause that gives `user` the `action` on `category`, as the resources it reaches:
/// `None` if no clause gives it at all. (A clause of scope `none` gives the action with an
/// empty reach: enough for a page-level question, never for a resource.)
///
/// ENGINE CHOICE: a resource must be reached by the union of the giving clauses (each part by
/// some clause), not by one clause whole; DESIGN.md does not say.
pub fn reach(t: &Tenant, u: &User, category: Category, action: Action) -> Option<Vec<Reach>> {
    let (c, a) = (category.as_str(), action.as_str());
    let mut given = false;
    let mut reach = Vec::new();

    // The built-in role (the catalog's matrix and scope).
    if let Some(role) = builtin_role(&u.role) {
        if role.matrix.allows(category, action) {
            given = true;
            reach.extend(scope_reach(role.scope.as_str()));
        }
        // "A Call Center Agent has [...] the addition of being able to view and use assigned
        // call queues": what the role may do over the queues the user is an agent of.
        if role.member.allows(category, action) && agent_of_any_queue(t, u) {
            given = true;
            reach.push(Reach::Member);
        }
    }

    // The custom role: "added to the built-in role's (it grants, never removes)", at tenant
    // scope unless it says otherwise.
    if let Some(custom) = &u.custom_role
        && let Some(role) = t.roles.iter().find(|r| r.id == *custom)
        && role
            .permissions
            .get(c)
            .is_some_and(|actions| actions.iter().any(|x| x == a))
    {
        given = true;
        reach.extend(scope_reach(role.scope.as_deref().unwrap_or("tenant")));
    }

    // Grants: full call report access sees all; granted extensions/queues/numbers see theirs.
    if a == "view" && REPORTING.contains(&c) {
        if u.grants.full_call_report_access {
            given = true;
            reach.push(Reach::Tenant);
        }
        let g = &u.grants;
        if !g.extensions.is_empty() || !g.queues.is_empty() || !g.numbers.is_empty() {
            given = true;
            reach.push(Reach::Granted);
        }
    }

    // Feature toggles switched on.
    for feature in &u.grants.features {
        for (name, tc, actions, scope) in TOGGLES {
            if name == feature && *tc == c && actions.contains(&a) {
                given = true;
                reach.extend(scope_reach(scope));
            }
        }
    }

    given.then_some(reach)
}

fn at_user_site(t: &Tenant, u: &User, site: Option<&str>) -> bool {
    match (site, user_site(t, u)) {
        (Some(s), Some(mine)) => s == mine,
        _ => false,
    }
}

fn extension_reached(t: &Tenant, u: &User, reach: &[Reach], e: &Extension) -> bool {
    reach.iter().any(|r| match r {
        Reach::Tenant => true,
        Reach::Site => at_user_site(t, u, e.site.as_deref()),
        Reach::Own => owns_extension(u, e),
        Reach::Granted => u.grants.extensions.contains(&e.ext),
        Reach::Supervised | Reach::Member => false,
    })
}

fn number_reached(t: &Tenant, u: &User, reach: &[Reach], n: &Number) -> bool {
    reach.iter().any(|r| match r {
        Reach::Tenant => true,
        Reach::Site => at_user_site(t, u, n.site.as_deref()),
        Reach::Own => routed_to_own_extension(t, u, n),
        Reach::Granted => u.grants.numbers.contains(&n.number),
        Reach::Supervised | Reach::Member => false,
    })
}

fn queue_reached(t: &Tenant, u: &User, reach: &[Reach], q: &Queue) -> bool {
    reach.iter().any(|r| match r {
        Reach::Tenant => true,
        Reach::Site => at_user_site(t, u, q.site.as_deref()),
        Reach::Own => false,
        Reach::Granted => u.grants.queues.contains(&q.id),
        Reach::Supervised => supervises(u, q),
        Reach::Member => is_agent(u, q),
    })
}

fn site_reached(t: &Tenant, u: &User, reach: &[Reach], site: &str) -> bool {
    reach.iter().any(|r| match r {
        Reach::Tenant => true,
        Reach::Site => at_user_site(t, u, Some(site)),
        _ => false,
    })
}

/// `deny action_not_permitted` if nothing gives the action, `allow permitted` if the
/// resource is reached, else `deny out_of_scope`.
fn scoped(reach: Option<Vec<Reach>>, reached: impl FnOnce(&[Reach]) -> bool) -> Answer {
    match reach {
        None => Answer::deny("action_not_permitted"),
        Some(r) if reached(&r) => Answer::allow("permitted"),
        Some(_) => Answer::deny("out_of_scope"),
    }
}

// =====================================================================================
// Caller ID
// =====================================================================================

/// Whether `u` may present `n`: "every number within the role's scope where the role grants
/// `phone_numbers:edit`, the numbers in grants, and the numbers routed to the user's own
/// extensions."
fn may_present(t: &Tenant, u: &User, n: &Number) -> bool {
    if u.grants.numbers.contains(&n.number) {
        return true;
    }
    // ENGINE CHOICE, backed by seed 000 ("[Tenant Setup] cannot read any other data"): a
    // role of scope `none` doesn't present its own extensions' DIDs.
    let role_scope_none = builtin_role(&u.role).is_none_or(|r| r.scope.as_str() == "none");
    if !role_scope_none && routed_to_own_extension(t, u, n) {
        return true;
    }
    match reach(t, u, Category::PhoneNumbers, Action::Edit) {
        Some(r) => number_reached(t, u, &r, n),
        None => false,
    }
}

/// The user's default caller ID, else the tenant's.
fn default_caller_id(t: &Tenant, u: &User) -> Option<String> {
    u.default_caller_id
        .as_deref()
        .or(t.default_caller_id.as_deref())
        .and_then(|d| number_by_text(t, d))
        .map(|n| n.number.clone())
}

/// The emergency callback: the DID routed to the caller's own extension (their lowest
/// extension that has one; the lowest DID of it), else the number flagged
/// `emergency_callback` at the caller's site (the lowest), else the user's default, else the
/// tenant's.
fn emergency_callback(t: &Tenant, u: Option<&User>) -> Option<String> {
    if let Some(u) = u {
        for e in own_extensions(t, u) {
            let mut dids: Vec<&str> = t
                .numbers
                .iter()
                .filter(|n| n.extension.as_deref() == Some(e.ext.as_str()))
                .map(|n| n.number.as_str())
                .collect();
            dids.sort_by_key(|n| (n.len(), n.to_string()));
            if let Some(did) = dids.first() {
                return Some((*did).to_string());
            }
        }
        if let Some(site) = user_site(t, u) {
            let mut flagged: Vec<&str> = t
                .numbers
                .iter()
                .filter(|n| n.emergency_callback && n.site.as_deref() == Some(site))
                .map(|n| n.number.as_str())
                .collect();
            flagged.sort_by_key(|n| (n.len(), n.to_string()));
            if let Some(n) = flagged.first() {
                return Some((*n).to_string());
            }
        }
        if let Some(d) = &u.default_caller_id
            && number_by_text(t, d).is_some()
        {
            return Some(d.clone());
        }
    }
    t.default_caller_id
        .as_deref()
        .and_then(|d| number_by_text(t, d))
        .map(|n| n.number.clone())
}

/// **Caller ID** `(tenant, user, requested, dialed)`.
pub fn caller_id(
    tenant: Option<&Tenant>,
    user: &str,
    requested: Option<&str>,
    dialed: &str,
) -> Answer {
    let Some(t) = tenant else {
        // An unknown tenant: the platform list only, and no number to present.
        return if is_emergency(None, dialed) {
            Answer::allow("emergency_no_caller_id")
        } else {
            Answer::deny("unknown_tenant")
        };
    };
    let requested = requested.filter(|r| !r.trim().is_empty());
    let owned = requested.and_then(|r| owned_number(t, r));
    let found = find_user(t, user);

    if is_emergency(Some(t), dialed) {
        if let (Some(u), Some(n)) = (found, owned)
            && is_active(u)
            && may_present(t, u, n)
        {
            return Answer::allow("emergency_call").with_caller_id(Some(n.number.clone()));
        }
        return match emergency_callback(t, found) {
            Some(n) => Answer::new("substitute", "emergency_callback").with_caller_id(Some(n)),
            None => Answer::allow("emergency_no_caller_id"),
        };
    }

    let u = match active_user(t, user) {
        Ok(u) => u,
        Err(reason) => return Answer::deny(reason),
    };
    // "Otherwise the user's default_caller_id, else the tenant's, → substitute. Otherwise
    // deny."
    let fallback = |reason: &'static str, none_reason: &'static str| match default_caller_id(t, u) {
        Some(n) => Answer::new("substitute", reason).with_caller_id(Some(n)),
        None => Answer::deny(none_reason),
    };
    match (requested, owned) {
        (None, _) => fallback("no_caller_id_requested", "no_permitted_caller_id"),
        // "A requested number the tenant doesn't own is never allowed (number_not_owned)."
        (Some(_), None) => fallback("number_not_owned", "number_not_owned"),
        (Some(_), Some(n)) if may_present(t, u, n) => {
            Answer::allow("number_permitted").with_caller_id(Some(n.number.clone()))
        }
        (Some(_), Some(_)) => fallback("number_not_permitted", "no_permitted_caller_id"),
    }
}

// =====================================================================================
// Queue agent pause
// =====================================================================================

/// "The agent must be an agent of the queue. An agent may pause and unpause itself. Anyone
/// else needs to supervise that queue, or to hold `call_queues:edit` with the queue in scope."
fn pause_rule(t: &Tenant, actor: &User, agent: &User, q: &Queue) -> Answer {
    if !is_agent(agent, q) {
        return Answer::deny("not_queue_member");
    }
    if actor.id == agent.id {
        return Answer::allow("self_pause");
    }
    if supervises(actor, q) {
        return Answer::allow("queue_supervisor");
    }
    scoped(reach(t, actor, Category::CallQueues, Action::Edit), |r| {
        queue_reached(t, actor, r, q)
    })
}

/// **Queue agent pause** `(tenant, actor, agent, queue, paused)`. ENGINE CHOICE: the queue is
/// looked up before the actor, the agent after.
pub fn agent_pause(tenant: Option<&Tenant>, actor: &str, agent: &str, queue: &str) -> Answer {
    let Some(t) = tenant else {
        return Answer::deny("unknown_tenant");
    };
    let Some(q) = queue_by_id_or_number(t, queue) else {
        return Answer::deny("unknown_queue");
    };
    let a = match active_user(t, actor) {
        Ok(a) => a,
        Err(reason) => return Answer::deny(reason),
    };
    let Some(agent) = find_user(t, agent) else {
        return Answer::deny("unknown_agent");
    };
    pause_rule(t, a, agent, q)
}

// =====================================================================================
// Recording access
// =====================================================================================

/// A recording as the model reads it.
#[derive(Debug, Clone, Default)]
pub struct Rec<'a> {
    /// The queue the call came through.
    pub queue: Option<&'a str>,
    /// The extensions on the call.
    pub extensions: Vec<&'a str>,
    /// The numbers on the call (possibly external parties).
    pub numbers: Vec<&'a str>,
    /// The site it was recorded at.
    pub site: Option<&'a str>,
}

/// **Recording access** `(tenant, actor, action, recording)`.
pub fn recording(
    tenant: Option<&Tenant>,
    actor: &str,
    action: RecordingAction,
    rec: &Rec,
) -> Answer {
    let Some(t) = tenant else {
        return Answer::deny("unknown_tenant");
    };
    let u = match active_user(t, actor) {
        Ok(u) => u,
        Err(reason) => return Answer::deny(reason),
    };
    // Every named site, queue, extension must be the tenant's. (The brief lists "queue/site/
    // extension" without saying in which order they are checked; the permission rule's
    // order, site first, is used.)
    if let Some(s) = rec.site
        && !t.sites.iter().any(|x| x.id == s)
    {
        return Answer::deny("unknown_site");
    }
    let queue = match rec.queue {
        Some(q) => match queue_by_id_or_number(t, q) {
            Some(q) => Some(q),
            None => return Answer::deny("unknown_queue"),
        },
        None => None,
    };
    let mut exts: Vec<&Extension> = Vec::new();
    for e in &rec.extensions {
        match t.extensions.iter().find(|x| x.ext == *e) {
            Some(x) => exts.push(x),
            None => return Answer::deny("unknown_extension"),
        }
    }
    // Numbers may be external parties: those the tenant doesn't own are ignored.
    let numbers: Vec<&Number> = rec
        .numbers
        .iter()
        .filter_map(|n| owned_number(t, n))
        .collect();
    if queue.is_none() && rec.site.is_none() && exts.is_empty() && numbers.is_empty() {
        return Answer::deny("unknown_recording");
    }

    let action = match action {
        RecordingAction::List | RecordingAction::Play => Action::View,
        RecordingAction::Download => Action::Download,
        RecordingAction::Delete => Action::Delete,
    };
    scoped(reach(t, u, Category::CallRecordings, action), |reach| {
        // A recording is reached if any party to its call is: "tenant scope and
        // full_call_report_access see all; site scope sees its site; assigned scope sees
        // recordings of granted or supervised queues, granted extensions or granted numbers;
        // self scope sees the calls of its own extensions."
        reach.iter().any(|r| match r {
            Reach::Tenant => true,
            Reach::Site => {
                user_site(t, u).is_some()
                    && (at_user_site(t, u, rec.site)
                        || queue.is_some_and(|q| at_user_site(t, u, q.site.as_deref()))
                        || exts.iter().any(|e| at_user_site(t, u, e.site.as_deref()))
                        || numbers
                            .iter()
                            .any(|n| at_user_site(t, u, n.site.as_deref())))
            }
            Reach::Own => exts.iter().any(|e| owns_extension(u, e)),
            Reach::Granted => {
                queue.is_some_and(|q| u.grants.queues.contains(&q.id))
                    || exts.iter().any(|e| u.grants.extensions.contains(&e.ext))
                    || numbers.iter().any(|n| u.grants.numbers.contains(&n.number))
            }
            Reach::Supervised => queue.is_some_and(|q| supervises(u, q)),
            // ENGINE CHOICE: being an agent of the queue doesn't reach its recordings.
            Reach::Member => false,
        })
    })
}

// =====================================================================================
// Permission
// =====================================================================================

/// A permission check's resource, as the model reads it.
#[derive(Debug, Clone, Default)]
pub struct Res<'a> {
    /// A site id.
    pub site: Option<&'a str>,
    /// A queue id or dial string.
    pub queue: Option<&'a str>,
    /// An extension.
    pub extension: Option<&'a str>,
    /// A number.
    pub number: Option<&'a str>,
}

/// **Permission** `(tenant, user, category, action, resource)`.
pub fn permission(
    tenant: Option<&Tenant>,
    user: &str,
    category: Category,
    action: Action,
    res: &Res,
) -> Answer {
    let Some(t) = tenant else {
        return Answer::deny("unknown_tenant");
    };
    let u = match active_user(t, user) {
        Ok(u) => u,
        Err(reason) => return Answer::deny(reason),
    };
    // Each named part resolved in the tenant: site, queue, extension, number.
    if let Some(s) = res.site
        && !t.sites.iter().any(|x| x.id == s)
    {
        return Answer::deny("unknown_site");
    }
    let queue = match res.queue {
        Some(q) => match queue_by_id_or_number(t, q) {
            Some(q) => Some(q),
            None => return Answer::deny("unknown_queue"),
        },
        None => None,
    };
    let extension = match res.extension {
        Some(e) => match t.extensions.iter().find(|x| x.ext == e) {
            Some(x) => Some(x),
            None => return Answer::deny("unknown_extension"),
        },
        None => None,
    };
    let number = match res.number {
        Some(n) => match owned_number(t, n) {
            Some(x) => Some(x),
            None => return Answer::deny("unknown_number"),
        },
        None => None,
    };
    scoped(reach(t, u, category, action), |r| {
        res.site.is_none_or(|s| site_reached(t, u, r, s))
            && queue.is_none_or(|q| queue_reached(t, u, r, q))
            && extension.is_none_or(|e| extension_reached(t, u, r, e))
            && number.is_none_or(|n| number_reached(t, u, r, n))
    })
}

// =====================================================================================
// Feature codes
// =====================================================================================

/// Every tenant's starting table (DESIGN.md's table).
const DEFAULT_CODES: [(&str, &str); 9] = [
    ("*45", "queue_login_toggle"),
    ("*46", "queue_pause_toggle"),
    ("*47", "queue_callers"),
    ("*72", "call_forward_on"),
    ("*73", "call_forward_off"),
    ("*97", "voicemail_own"),
    ("*98", "voicemail_box"),
    ("**", "pickup_directed"),
    ("*70", "park"),
];

/// The feature kinds, with the `'static` text an [`Answer`] carries.
const KINDS: [&str; 9] = [
    "queue_login_toggle",
    "queue_pause_toggle",
    "queue_callers",
    "call_forward_on",
    "call_forward_off",
    "voicemail_own",
    "voicemail_box",
    "pickup_directed",
    "park",
];

/// One code of a tenant's table.
struct Code<'t> {
    code: &'t str,
    feature: &'static str,
    roles: Option<&'t Vec<String>>,
}

/// The tenant's table: "the defaults below, which the tenant's own entries override or extend
/// code by code (`feature: disabled` removes a default)".
fn code_table(t: &Tenant) -> Vec<Code<'_>> {
    let mut table = Vec::new();
    for (code, feature) in DEFAULT_CODES {
        if !t.feature_codes.iter().any(|f| f.code == code) {
            table.push(Code {
                code,
                feature,
                roles: None,
            });
        }
    }
    for f in &t.feature_codes {
        if let Some(kind) = KINDS.iter().find(|k| **k == f.feature) {
            table.push(Code {
                code: &f.code,
                feature: kind,
                roles: f.roles.as_ref(),
            });
        }
    }
    table
}

/// If `code` prefixes `dialed` at a boundary, what follows it. ENGINE CHOICE (DESIGN.md says
/// "prefixes"): the code must be followed by nothing or by `*`, or end in `*` itself, so
/// `*461` is not `*46`; one trailing `#` (the send key) is ignored.
fn code_matches<'d>(code: &str, dialed: &'d str) -> Option<&'d str> {
    let dialed = dialed.strip_suffix('#').unwrap_or(dialed);
    let rest = dialed.strip_prefix(code)?;
    if rest.is_empty() || code.ends_with('*') {
        Some(rest)
    } else {
        rest.strip_prefix('*')
    }
}

/// Whether every character is an ASCII letter or digit or one of `* # + - . _`.
fn is_valid_dial_string(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '#' | '+' | '-' | '.' | '_'))
}

fn feature_deny(feature: &'static str, reason: &'static str) -> Answer {
    let mut a = Answer::deny(reason);
    a.feature = Some(feature);
    a
}

/// The verdict, with the feature and (on allow only) the arguments.
fn feature_done(feature: &'static str, verdict: Answer, args: Vec<String>) -> Answer {
    let mut a = verdict;
    a.feature = Some(feature);
    if a.allowed() {
        a.args = args;
    }
    a
}

/// **Feature code** `(tenant, user, dialed)`.
pub fn feature_code(tenant: Option<&Tenant>, user: &str, dialed: &str) -> Answer {
    // "Feature code on an emergency target: allow"; then "a feature-code dial string (after
    // percent-decoding) with a character outside ASCII letters/digits and `* # + - . _` →
    // deny `invalid_dial_string` (checked after the emergency check, before the user
    // check)". ENGINE CHOICE (the brief doesn't say where an unknown tenant comes): an
    // invalid dial string is refused as such for an unknown tenant too.
    if is_emergency(tenant, dialed) {
        return Answer::allow("emergency_call");
    }
    // The engine's documented rule (`Table::check_feature_code`): a `sip:`/`sips:`/`tel:` URI
    // gives its user part (up to `@`, `;`, `?` or `:`), taken as it is — the SIP front end
    // decodes escapes before it asks, so a `%` left here is not a dial character.
    let dialed = feature_user_part(dialed);
    if !is_valid_dial_string(&dialed) {
        return Answer::deny("invalid_dial_string");
    }
    let Some(t) = tenant else {
        return Answer::deny("unknown_tenant");
    };
    let u = match active_user(t, user) {
        Ok(u) => u,
        Err(reason) => return Answer::deny(reason),
    };

    // The longest code that prefixes the dialed string wins.
    let mut best: Option<(&Code, &str)> = None;
    let table = code_table(t);
    for c in &table {
        if let Some(rest) = code_matches(c.code, &dialed)
            && best.is_none_or(|(b, _)| c.code.len() > b.code.len())
        {
            best = Some((c, rest));
        }
    }
    let Some((code, rest)) = best else {
        return Answer::deny("unknown_feature_code");
    };
    let feature = code.feature;
    if let Some(roles) = code.roles {
        let named = roles
            .iter()
            .any(|r| *r == u.role || u.custom_role.as_deref() == Some(r.as_str()));
        if !named {
            return feature_deny(feature, "role_not_allowed");
        }
    }
    // Args follow, separated by `*`; empty pieces mean nothing.
    let args: Vec<&str> = rest.split('*').filter(|a| !a.is_empty()).collect();
    if args.len() > 2 {
        return feature_deny(feature, "too_many_arguments");
    }
    let a1 = args.first().copied();
    let a2 = args.get(1).copied();
    let deny = |reason| feature_deny(feature, reason);
    let done = |verdict, args| feature_done(feature, verdict, args);

    match feature {
        // *45 / *46 with no queue: all the caller's queues.
        "queue_login_toggle" | "queue_pause_toggle" if a1.is_none() => {
            if !agent_of_any_queue(t, u) {
                deny("not_queue_member")
            } else if feature == "queue_pause_toggle" {
                done(Answer::allow("self_pause"), vec![])
            } else {
                done(Answer::allow("queue_agent"), vec![])
            }
        }
        "queue_login_toggle" => {
            if a2.is_some() {
                return deny("too_many_arguments");
            }
            let Some(q) = a1.and_then(|q| queue_by_id_or_number(t, q)) else {
                return deny("unknown_queue");
            };
            if is_agent(u, q) {
                done(Answer::allow("queue_agent"), vec![q.id.clone()])
            } else {
                deny("not_queue_member")
            }
        }
        "queue_pause_toggle" => {
            // `*46*queue`: the caller itself; `*46*ext*queue`: the owner of ext.
            let (ext, queue) = match (a1, a2) {
                (Some(q), None) => (None, q),
                (Some(e), Some(q)) => (Some(e), q),
                _ => return deny("missing_argument"),
            };
            let Some(q) = queue_by_id_or_number(t, queue) else {
                return deny("unknown_queue");
            };
            match ext {
                None => done(pause_rule(t, u, u, q), vec![q.id.clone()]),
                Some(e) => {
                    let Some(x) = t.extensions.iter().find(|x| x.ext == e) else {
                        return deny("unknown_extension");
                    };
                    let Some(agent) = x.user.as_deref().and_then(|o| find_user(t, o)) else {
                        return deny("unknown_agent");
                    };
                    done(
                        pause_rule(t, u, agent, q),
                        vec![x.ext.clone(), q.id.clone()],
                    )
                }
            }
        }
        "queue_callers" => {
            let Some(qarg) = a1 else {
                return deny("missing_argument");
            };
            if a2.is_some() {
                return deny("too_many_arguments");
            }
            let Some(q) = queue_by_id_or_number(t, qarg) else {
                return deny("unknown_queue");
            };
            if is_agent(u, q) {
                return done(Answer::allow("queue_agent"), vec![q.id.clone()]);
            }
            let verdict = scoped(reach(t, u, Category::CallQueues, Action::View), |r| {
                queue_reached(t, u, r, q)
            });
            done(verdict, vec![q.id.clone()])
        }
        "call_forward_on" | "call_forward_off" => {
            let target = if feature == "call_forward_on" {
                match (a1, a2) {
                    (None, _) => return deny("missing_argument"),
                    (Some(target), None) => Some(target),
                    (Some(_), Some(_)) => return deny("too_many_arguments"),
                }
            } else {
                if a1.is_some() {
                    return deny("too_many_arguments");
                }
                None
            };
            let Some(own) = lowest_own_extension(t, u) else {
                return deny("no_own_extension");
            };
            let verdict = scoped(reach(t, u, Category::Extensions, Action::Edit), |r| {
                extension_reached(t, u, r, own)
            });
            let mut args = vec![own.ext.clone()];
            args.extend(target.map(str::to_string));
            done(verdict, args)
        }
        "voicemail_own" => {
            if a1.is_some() {
                return deny("too_many_arguments");
            }
            match lowest_own_extension(t, u) {
                Some(own) => done(Answer::allow("own_extension"), vec![own.ext.clone()]),
                None => deny("no_own_extension"),
            }
        }
        "voicemail_box" => {
            if a2.is_some() {
                return deny("too_many_arguments");
            }
            let given = reach(t, u, Category::Voicemail, Action::View);
            let Some(e) = a1 else {
                return done(scoped(given, |_| true), vec![]);
            };
            let Some(x) = t.extensions.iter().find(|x| x.ext == e) else {
                return deny("unknown_extension");
            };
            done(
                scoped(given, |r| extension_reached(t, u, r, x)),
                vec![x.ext.clone()],
            )
        }
        "pickup_directed" => {
            let Some(e) = a1 else {
                return deny("missing_argument");
            };
            if a2.is_some() {
                return deny("too_many_arguments");
            }
            let Some(x) = t.extensions.iter().find(|x| x.ext == e) else {
                return deny("unknown_extension");
            };
            done(
                scoped(reach(t, u, Category::PickupGroups, Action::View), |r| {
                    extension_reached(t, u, r, x)
                }),
                vec![x.ext.clone()],
            )
        }
        // "park": parking_lots:view, page-level.
        _ => {
            if a1.is_some() {
                return deny("too_many_arguments");
            }
            done(
                scoped(reach(t, u, Category::ParkingLots, Action::View), |_| true),
                vec![],
            )
        }
    }
}
