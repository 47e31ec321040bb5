//! "What's My Role?", answered precisely: a user's effective rights, worked out from the same
//! compiled table the checks use.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{Action, Category, FEATURE_TOGGLES, Scope};
use crate::decide::{self, Outcome};
use crate::table::{
    CompiledTenant, ExtEntry, NumberEntry, Pos, QueueEntry, REACH_GRANTED, REACH_MEMBER, REACH_OWN,
    REACH_SITE, REACH_SUPERVISED, REACH_TENANT, Reach, Table, UserEntry,
};

/// A user's effective rights.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The tenant.
    pub tenant: String,
    /// The user.
    pub user: String,
    /// `active` or `suspended`.
    pub status: &'static str,
    /// The built-in role.
    pub role: RoleSummary,
    /// The custom role, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_role: Option<CustomRoleSummary>,
    /// The user's site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Extensions they own.
    pub extensions: Vec<String>,
    /// Category → action → how far it reaches (`tenant`, `site`, `supervised`, `granted`,
    /// `self`, `member` (queues they are an agent of), or `page` when it reaches no resource).
    pub permissions: BTreeMap<Category, BTreeMap<Action, Vec<&'static str>>>,
    /// Numbers they may present as caller ID.
    pub caller_ids: Vec<String>,
    /// The number used when they ask for one they may not present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_caller_id: Option<String>,
    /// Queues whose agents they may pause or unpause (other than themselves), with the agents.
    pub pausable_queues: BTreeMap<String, Vec<String>>,
    /// Which recordings they may hear.
    pub recordings: RecordingReach,
    /// `full_call_report_access`.
    pub full_call_report_access: bool,
    /// Feature toggles switched on.
    pub features: Vec<&'static str>,
    /// The revision this was worked out at.
    pub revision: u64,
}

/// A built-in role, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct RoleSummary {
    /// Its name.
    pub name: &'static str,
    /// The product whose documentation defines it.
    pub product: &'static str,
    /// Its scope.
    pub scope: Scope,
    /// Whether it is an administrator (everything, tenant-wide; can't be narrowed).
    pub admin: bool,
    /// The seed sentence it comes from.
    pub source: &'static str,
}

/// A custom role, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct CustomRoleSummary {
    /// Its id.
    pub id: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its scope.
    pub scope: Scope,
}

/// The recordings a user may play.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecordingReach {
    /// Every recording of the tenant.
    pub all: bool,
    /// Recordings at this site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Recordings of calls through these queues.
    pub queues: Vec<String>,
    /// Recordings of calls on these extensions.
    pub extensions: Vec<String>,
    /// Recordings of calls on these numbers.
    pub numbers: Vec<String>,
}

impl Table {
    /// The effective rights of `user` in `tenant`, or `None` if there is no such user.
    pub fn explain(&self, tenant: &str, user: &str) -> Option<Explanation> {
        let revision = self.revision();
        self.with_tenant(tenant, |t| explain(t, user, revision))
            .flatten()
    }
}

fn reach_names(any: bool, reach: Reach) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (bit, name) in [
        (REACH_TENANT, "tenant"),
        (REACH_SITE, "site"),
        (REACH_SUPERVISED, "supervised"),
        (REACH_GRANTED, "granted"),
        (REACH_OWN, "self"),
        (REACH_MEMBER, "member"),
    ] {
        if reach & bit != 0 {
            names.push(name);
        }
    }
    if any && names.is_empty() {
        names.push("page");
    }
    names
}

/// The effective rights of `user` in one tenant.
pub fn explain(t: &CompiledTenant, user: &str, revision: u64) -> Option<Explanation> {
    let (upos, u) = t.users.get(user)?;
    let role = u.role.get();
    let ext_name = |p: Pos<ExtEntry>| t.exts.at(p).map(|e| e.ext.to_string());
    let number_name = |p: Pos<NumberEntry>| t.numbers.at(p).map(|n| n.number.to_string());

    let mut permissions: BTreeMap<Category, BTreeMap<Action, Vec<&'static str>>> = BTreeMap::new();
    for &c in Category::ALL {
        for &a in Action::ALL {
            let (any, reach) = t.reach(u, c, a);
            if any {
                permissions
                    .entry(c)
                    .or_default()
                    .insert(a, reach_names(any, reach));
            }
        }
    }

    let caller_ids = t
        .numbers
        .iter()
        .filter(|(p, _)| decide::may_present(t, u, *p))
        .map(|(_, n)| n.number.to_string())
        .collect();

    let mut extensions: Vec<String> = u.own_exts().iter().filter_map(ext_name).collect();
    extensions.sort();

    let mut pausable_queues = BTreeMap::new();
    for (_, q) in t.queues.iter() {
        // By name, not by position: positions follow the order the directory was given in.
        let mut agents: Vec<String> = q
            .agents
            .iter()
            .filter(|&&a| a != upos)
            .filter(|&&a| {
                let name = t.users.at(a).map(|x| &*x.id).unwrap_or("");
                decide::agent_pause(t, user, name, &q.id, revision).outcome == Outcome::Allow
            })
            .filter_map(|&a| t.users.at(a).map(|x| x.id.to_string()))
            .collect();
        agents.sort();
        if !agents.is_empty() {
            pausable_queues.insert(q.id.to_string(), agents);
        }
    }

    Some(Explanation {
        tenant: t.id.to_string(),
        user: u.id.to_string(),
        status: if u.active { "active" } else { "suspended" },
        role: RoleSummary {
            name: role.name,
            product: role.product,
            scope: role.scope,
            admin: role.is_admin(),
            source: role.source,
        },
        custom_role: u
            .custom_role
            .and_then(|c| t.roles.at(c))
            .map(|r| CustomRoleSummary {
                id: r.id.to_string(),
                description: r.description.as_deref().map(str::to_string),
                scope: r.scope,
            }),
        site: u.site.and_then(|s| t.sites.at(s)).map(|s| s.id.to_string()),
        extensions,
        permissions,
        caller_ids,
        default_caller_id: u
            .default_caller_id
            .or(t.default_caller_id)
            .and_then(number_name),
        pausable_queues,
        recordings: recording_reach(t, u),
        full_call_report_access: u.full_report,
        features: FEATURE_TOGGLES
            .iter()
            .enumerate()
            .filter(|(i, _)| u.features & (1 << i) != 0)
            .map(|(_, f)| f.name)
            .collect(),
        revision,
    })
}

fn recording_reach(t: &CompiledTenant, u: &UserEntry) -> RecordingReach {
    let (any, reach) = t.reach(u, Category::CallRecordings, Action::View);
    let mut r = RecordingReach::default();
    if !any {
        return r;
    }
    if reach & REACH_TENANT != 0 {
        r.all = true;
        return r;
    }
    if reach & REACH_SITE != 0 {
        r.site = t
            .user_site(u)
            .and_then(|s| t.sites.at(s))
            .map(|s| s.id.to_string());
    }
    let mut queues: Vec<Pos<QueueEntry>> = Vec::new();
    let mut exts: Vec<Pos<ExtEntry>> = Vec::new();
    if reach & REACH_SUPERVISED != 0 {
        queues.extend(u.supervises().iter());
    }
    if reach & REACH_GRANTED != 0 {
        queues.extend(u.granted_queues().iter());
        exts.extend(u.granted_exts().iter());
        r.numbers = u
            .granted_numbers()
            .iter()
            .filter_map(|n| t.numbers.at(n))
            .map(|n| n.number.to_string())
            .collect();
    }
    if reach & REACH_OWN != 0 {
        exts.extend(u.own_exts().iter());
    }
    queues.sort_unstable();
    queues.dedup();
    exts.sort_unstable();
    exts.dedup();
    r.queues = queues
        .iter()
        .filter_map(|&q| t.queues.at(q))
        .map(|q| q.id.to_string())
        .collect();
    r.extensions = exts
        .iter()
        .filter_map(|&e| t.exts.at(e))
        .map(|e| e.ext.to_string())
        .collect();
    r.queues.sort();
    r.extensions.sort();
    r.numbers.sort();
    r
}
