//! A directory tenant compiled into a [`CompiledTenant`] ([`CompiledTenant::compile`]), or a
//! compiled tenant patched with a [`Splice`] ([`CompiledTenant::spliced`]).

use std::sync::Arc;

use crate::catalog::{self, Action, Category, Matrix, RoleId, Scope};
use crate::dial::EmergencySet;
use crate::edit::Splice;
use crate::feature::{DEFAULT_CODES, FeatureKind};
use crate::model::Tenant;
use crate::number::E164;

use super::Hasher;
use super::compiled::*;
use super::index::{Index, Keyed, Pos, sorted, sorted_vec};

/// The parts of a compiled tenant a user entry points into.
struct Refs<'a> {
    sites: &'a Index<SiteEntry>,
    exts: &'a Index<ExtEntry>,
    queues: &'a Index<QueueEntry>,
    numbers: &'a Index<NumberEntry>,
    roles: &'a Index<RoleEntry>,
}

impl Refs<'_> {
    /// `u` compiled, with the sets that come from elsewhere in the tenant: the extensions
    /// they own, the queues they are an agent of, the queues they supervise.
    fn user(&self, u: &crate::model::User, derived: Derived) -> UserEntry {
        let number = |text: &str| {
            E164::parse(text)
                .ok()
                .and_then(|n| self.numbers.find(&n.value()))
        };
        let Derived {
            own,
            agent,
            supervise,
        } = derived;
        let parts: [Vec<u32>; 6] = [
            raw(own),
            raw(agent),
            raw(supervise),
            raw(u
                .grants
                .extensions
                .iter()
                .filter_map(|e| self.exts.find(e))
                .collect()),
            raw(u
                .grants
                .queues
                .iter()
                .filter_map(|q| self.queues.find(q))
                .collect()),
            raw(u.grants.numbers.iter().filter_map(|n| number(n)).collect()),
        ];
        let features = u
            .grants
            .features
            .iter()
            .filter_map(|f| catalog::feature_toggle(f))
            .fold(0u16, |m, i| m | (1 << i));
        UserEntry {
            id: u.id.as_str().into(),
            role: RoleId::by_name(&u.role).unwrap_or(RoleId::NOBODY),
            custom_role: u.custom_role.as_deref().and_then(|r| self.roles.find(r)),
            site: u.site.as_deref().and_then(|s| self.sites.find(s)),
            active: u.status.as_deref() != Some("suspended"),
            full_report: u.grants.full_call_report_access,
            features,
            default_caller_id: u.default_caller_id.as_deref().and_then(number),
            sets: Sets::EMPTY,
            ends: [0; 6],
        }
        .with_sets(&parts)
    }
}

/// A user's sets that other entries define: extensions owned, queues as agent and as
/// supervisor.
#[derive(Default)]
struct Derived {
    own: Vec<Pos<ExtEntry>>,
    agent: Vec<Pos<QueueEntry>>,
    supervise: Vec<Pos<QueueEntry>>,
}

/// Positions as a sorted, deduplicated set of bare indexes (how a user stores its sets).
fn raw<T>(positions: Vec<Pos<T>>) -> Vec<u32> {
    sorted_vec(positions.into_iter().map(Pos::get).collect())
}

impl CompiledTenant {
    /// Compiles a validated tenant. Total: dangling references (which validation refuses)
    /// are skipped rather than trusted.
    pub fn compile(t: &Tenant, revision: u64) -> CompiledTenant {
        let mut sites = Index::with_capacity(t.sites.len());
        for s in &t.sites {
            sites.push(SiteEntry {
                id: s.id.as_str().into(),
                emergency_callback: None,
            });
        }
        let site = |id: &Option<String>| id.as_deref().and_then(|s| sites.find(s));

        // Users first (positions only), so extensions and queues can point at them.
        let mut user_pos = Index::with_capacity(t.users.len());
        for u in &t.users {
            user_pos.push(Placeholder(u.id.as_str().into()));
        }
        // Users are pushed below in the same order, so a placeholder's position is theirs.
        let user = |id: &str| user_pos.find(id).map(Pos::retype::<UserEntry>);

        let mut exts = Index::with_capacity(t.extensions.len());
        for e in &t.extensions {
            exts.push(ExtEntry {
                ext: e.ext.as_str().into(),
                site: site(&e.site),
                owner: e.user.as_deref().and_then(user),
                did: None,
            });
        }

        let mut numbers = Index::with_capacity(t.numbers.len());
        let mut callbacks = Vec::new();
        let mut sorted_numbers: Vec<(E164, &crate::model::Number)> = t
            .numbers
            .iter()
            .filter_map(|n| E164::parse(&n.number).ok().map(|e| (e, n)))
            .collect();
        sorted_numbers.sort_by_key(|(e, _)| *e);
        for (number, n) in &sorted_numbers {
            let ext = n.extension.as_deref().and_then(|e| exts.find(e));
            let pos = numbers.push(NumberEntry {
                number: *number,
                site: site(&n.site),
                ext,
            });
            // Numbers are visited in ascending order: the first one seen is the smallest.
            if let Some(e) = ext.and_then(|e| exts.at_mut(e)) {
                e.did.get_or_insert(pos);
            }
            if n.emergency_callback
                && let Some(s) = site(&n.site)
            {
                callbacks.push((s, pos));
            }
        }
        let number = |text: &str| {
            E164::parse(text)
                .ok()
                .and_then(|n| numbers.find(&n.value()))
        };

        let mut queues = Index::with_capacity(t.queues.len());
        let mut queue_numbers = hashbrown::HashMap::with_hasher(Hasher::default());
        for q in &t.queues {
            let pos = queues.push(QueueEntry {
                id: q.id.as_str().into(),
                number: q.number.as_deref().map(Into::into),
                site: site(&q.site),
                agents: sorted(q.agents.iter().filter_map(|a| user(a))),
                supervisors: sorted(q.supervisors.iter().filter_map(|a| user(a))),
            });
            if let Some(n) = &q.number {
                queue_numbers.insert(n.as_str().into(), pos);
            }
        }

        let mut roles = Index::with_capacity(t.roles.len());
        for r in &t.roles {
            let mut matrix = Matrix::EMPTY;
            for (category, actions) in &r.permissions {
                let Ok(category) = category.parse::<Category>() else {
                    continue;
                };
                let set = actions
                    .iter()
                    .filter_map(|a| a.parse::<Action>().ok())
                    .fold(matrix.actions(category), |set, a| set | a.bit());
                matrix = matrix.with(category, set);
            }
            roles.push(RoleEntry {
                id: r.id.as_str().into(),
                description: r.description.as_deref().map(Into::into),
                matrix,
                scope: r
                    .scope
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(Scope::Tenant),
            });
        }

        // Queue memberships and owned extensions, per user.
        let mut derived: Vec<Derived> = Vec::new();
        derived.resize_with(user_pos.len(), Derived::default);
        fn of(derived: &mut [Derived], u: Pos<UserEntry>) -> Option<&mut Derived> {
            derived.get_mut(u.get() as usize)
        }
        for (qi, q) in queues.iter() {
            for &a in q.agents.iter() {
                if let Some(d) = of(&mut derived, a) {
                    d.agent.push(qi);
                }
            }
            for &s in q.supervisors.iter() {
                if let Some(d) = of(&mut derived, s) {
                    d.supervise.push(qi);
                }
            }
        }
        for (ei, e) in exts.iter() {
            if let Some(d) = e.owner.and_then(|o| of(&mut derived, o)) {
                d.own.push(ei);
            }
        }

        let refs = Refs {
            sites: &sites,
            exts: &exts,
            queues: &queues,
            numbers: &numbers,
            roles: &roles,
        };
        let mut users = Index::with_capacity(t.users.len());
        for (u, d) in t.users.iter().zip(
            derived
                .into_iter()
                .chain(std::iter::repeat_with(Derived::default)),
        ) {
            users.push(refs.user(u, d));
        }

        let mut codes: Vec<CodeEntry> = DEFAULT_CODES
            .iter()
            .filter(|(code, _)| !t.feature_codes.iter().any(|f| f.code == *code))
            .map(|(code, feature)| CodeEntry {
                code: (*code).into(),
                feature: *feature,
                roles: None,
            })
            .collect();
        for f in &t.feature_codes {
            let Ok(feature) = f.feature.parse::<FeatureKind>() else {
                continue;
            };
            let roles = f.roles.as_ref().map(|names| {
                names
                    .iter()
                    .filter_map(|n| match RoleId::by_name(n) {
                        Some(r) => Some(RoleRef::Builtin(r)),
                        None => roles.find(n).map(RoleRef::Custom),
                    })
                    .collect()
            });
            codes.push(CodeEntry {
                code: f.code.as_str().into(),
                feature,
                roles,
            });
        }
        codes.sort_by(|a, b| {
            b.code
                .len()
                .cmp(&a.code.len())
                .then_with(|| a.code.cmp(&b.code))
        });

        let emergency = EmergencySet::lenient(t.emergency_numbers.iter().map(String::as_str));

        // Numbers were visited in ascending order: the first flagged one of a site wins.
        for (s, pos) in callbacks {
            if let Some(s) = sites.at_mut(s) {
                s.emergency_callback.get_or_insert(pos);
            }
        }

        CompiledTenant {
            id: t.id.as_str().into(),
            revision,
            default_caller_id: t.default_caller_id.as_deref().and_then(number),
            emergency,
            sites,
            numbers,
            exts,
            queues,
            queue_numbers,
            roles,
            users,
            codes: codes.into(),
            patches: 0,
            generation: next_generation(),
            delta: None,
        }
    }

    /// Whether [`CompiledTenant::spliced`] can apply `splice` to this tenant.
    pub fn can_splice(&self, splice: &Splice) -> bool {
        let (p, r) = (&splice.put, &splice.removed);
        let elsewhere = splice.own_changed
            || !(r.sites.is_empty()
                && r.numbers.is_empty()
                && r.extensions.is_empty()
                && r.queues.is_empty()
                && r.roles.is_empty()
                && r.feature_codes.is_empty())
            || !(p.sites.is_empty()
                && p.numbers.is_empty()
                && p.roles.is_empty()
                && p.feature_codes.is_empty());
        if elsewhere || *p.id != *self.id {
            return false;
        }
        let site = |s: &Option<String>| match s {
            None => Some(None),
            Some(s) => self.sites.find(s).map(Some),
        };
        let ext_same = |e: &crate::model::Extension| {
            self.exts
                .get(&e.ext)
                .is_some_and(|(_, old)| site(&e.site) == Some(old.site))
        };
        let queue_same = |q: &crate::model::Queue| {
            self.queues.get(&q.id).is_some_and(|(_, old)| {
                site(&q.site) == Some(old.site) && q.number.as_deref() == old.number.as_deref()
            })
        };
        p.extensions.iter().all(ext_same) && p.queues.iter().all(queue_same)
    }

    /// This tenant with `splice` applied, at `revision`, built from this one without
    /// compiling the tenant again: only the users, extension owners and queue memberships the
    /// splice names are worked out; every other part is copied as it is (flat arrays and
    /// hash tables of positions: a copy costs a fraction of a compile, and checks keep
    /// reading each part inline, with no pointer more to follow). `None` when the
    /// splice changes anything else (sites, numbers, roles, feature codes, the tenant's own
    /// fields, an extension's site or a queue's number or site, or adds or removes an
    /// extension or queue): compile the whole tenant then.
    ///
    /// Every answer of the result is the answer of [`CompiledTenant::compile`] of the
    /// tenant after the splice (`tests/edits.rs` checks it on generated directories).
    pub fn spliced(&self, splice: &Arc<Splice>, revision: u64) -> Option<CompiledTenant> {
        if !self.can_splice(splice) {
            return None;
        }
        let (p, r) = (&splice.put, &splice.removed);

        // Users first: the removed ones stop being found, new ones get the next positions.
        let mut users = Index::clone(&self.users);
        for id in &r.users {
            users.forget(id);
        }
        let placeholder = |id: &str| UserEntry {
            id: id.into(),
            role: RoleId::NOBODY,
            custom_role: None,
            site: None,
            active: false,
            full_report: false,
            features: 0,
            default_caller_id: None,
            sets: Sets::EMPTY,
            ends: [0; 6],
        };
        let put_users: Vec<Pos<UserEntry>> = p
            .users
            .iter()
            .map(|u| match users.find(u.id.as_str()) {
                Some(i) => i,
                None => users.push(placeholder(&u.id)),
            })
            .collect();

        let mut exts = self.exts.clone();
        if !p.extensions.is_empty() {
            for e in &p.extensions {
                let owner = e.user.as_deref().and_then(|u| users.find(u));
                if let Some(entry) = exts.find(e.ext.as_str()).and_then(|i| exts.at_mut(i)) {
                    entry.owner = owner;
                }
            }
        }

        // Queues whose members change, and the users whose memberships that changes.
        let mut queues = self.queues.clone();
        let mut moved: Vec<Pos<UserEntry>> = Vec::new();
        if !p.queues.is_empty() {
            for q in &p.queues {
                let Some(i) = queues.find(q.id.as_str()) else {
                    continue;
                };
                let agents = sorted(q.agents.iter().filter_map(|a| users.find(a)));
                let supervisors = sorted(q.supervisors.iter().filter_map(|a| users.find(a)));
                if let Some(entry) = queues.at_mut(i) {
                    for (old, new) in [(&entry.agents, &agents), (&entry.supervisors, &supervisors)]
                    {
                        moved.extend(old.iter().filter(|x| new.binary_search(x).is_err()));
                        moved.extend(new.iter().filter(|x| old.binary_search(x).is_err()));
                    }
                    entry.agents = agents;
                    entry.supervisors = supervisors;
                }
            }
        }
        let member_of = |pos: Pos<UserEntry>| {
            let mut agent = Vec::new();
            let mut supervise = Vec::new();
            for (qi, q) in queues.iter() {
                if q.agents.binary_search(&pos).is_ok() {
                    agent.push(qi);
                }
                if q.supervisors.binary_search(&pos).is_ok() {
                    supervise.push(qi);
                }
            }
            (agent, supervise)
        };

        let refs = Refs {
            sites: &self.sites,
            exts: &exts,
            queues: &queues,
            numbers: &self.numbers,
            roles: &self.roles,
        };
        for (u, &pos) in p.users.iter().zip(&put_users) {
            let own = u
                .extensions
                .iter()
                .filter_map(|e| exts.find(e.as_str()))
                .collect();
            let (agent, supervise) = member_of(pos);
            let entry = refs.user(
                u,
                Derived {
                    own,
                    agent,
                    supervise,
                },
            );
            if let Some(slot) = users.at_mut(pos) {
                *slot = entry;
            }
        }
        for pos in moved {
            if put_users.contains(&pos) {
                continue;
            }
            let (agent, supervise) = member_of(pos);
            if let Some(slot) = users.at_mut(pos) {
                let mut sets = slot.sets();
                sets[AGENT_OF] = raw(agent);
                sets[SUPERVISES] = raw(supervise);
                let entry = slot.clone().with_sets(&sets);
                *slot = entry;
            }
        }

        Some(CompiledTenant {
            id: self.id.clone(),
            revision,
            default_caller_id: self.default_caller_id,
            emergency: self.emergency.clone(),
            sites: self.sites.clone(),
            numbers: self.numbers.clone(),
            exts,
            queues,
            queue_numbers: self.queue_numbers.clone(),
            roles: self.roles.clone(),
            users,
            codes: Arc::clone(&self.codes),
            patches: self.patches.saturating_add(1),
            generation: next_generation(),
            delta: Some(Delta {
                base: self.generation,
                splice: Arc::clone(splice),
            }),
        })
    }
}

/// A user id and nothing else: the positions users get before they are compiled.
struct Placeholder(Box<str>);
impl Keyed for Placeholder {
    type Key = str;
    fn key(&self) -> &str {
        &self.0
    }
}
