//! Tenants as table rows and back: what a load reads (one query per table, every tenant's rows
//! together) is assembled here in memory, whichever database it came from.

use callgate::model::{CustomRole, Extension, FeatureCode, Number, Queue, Site, Tenant, User};

/// `tenants`: id, default_caller_id.
pub(super) type TenantRow = (String, Option<String>);
/// `tenant_emergency_numbers`, `sites`: tenant, value.
pub(super) type PairRow = (String, String);
/// `numbers`: tenant, number, site, extension, emergency_callback.
pub(super) type NumberRow = (String, String, Option<String>, Option<String>, bool);
/// `extensions`: tenant, ext, site, user_id; `queues`: tenant, id, number, site; `roles`:
/// tenant, id, description, scope.
pub(super) type QuadRow = (String, String, Option<String>, Option<String>);
/// `queue_agents`, `queue_supervisors`: tenant, queue, user; `feature_code_roles`: tenant,
/// code, role.
pub(super) type MemberRow = (String, String, String);
/// `role_permissions`: tenant, role, category, action; `user_grants`: tenant, user, kind, value.
pub(super) type FourRow = (String, String, String, String);
/// `feature_codes`: tenant, code, feature, restricted.
pub(super) type FeatureCodeRow = (String, String, String, bool);
/// `users`: tenant, id, role, custom_role, site, default_caller_id, status,
/// full_call_report_access.
pub(super) type UserRow =
    (String, String, String, Option<String>, Option<String>, Option<String>, Option<String>, bool);

/// Every row of some tenants, as read.
#[derive(Default)]
pub(super) struct Rows {
    pub tenants: Vec<TenantRow>,
    pub emergency_numbers: Vec<PairRow>,
    pub sites: Vec<PairRow>,
    pub numbers: Vec<NumberRow>,
    pub extensions: Vec<QuadRow>,
    pub queues: Vec<QuadRow>,
    pub queue_agents: Vec<MemberRow>,
    pub queue_supervisors: Vec<MemberRow>,
    pub roles: Vec<QuadRow>,
    pub role_permissions: Vec<FourRow>,
    pub feature_codes: Vec<FeatureCodeRow>,
    pub feature_code_roles: Vec<MemberRow>,
    pub users: Vec<UserRow>,
    pub user_grants: Vec<FourRow>,
}

/// The kinds of grant rows, as `user_grants.kind` writes them.
pub(super) const GRANT_EXTENSION: &str = "extension";
pub(super) const GRANT_QUEUE: &str = "queue";
pub(super) const GRANT_NUMBER: &str = "number";
pub(super) const GRANT_FEATURE: &str = "feature";

/// Finds items in a slice sorted by key, remembering the last hit (rows mostly come grouped).
struct Finder {
    last: Option<usize>,
}

impl Finder {
    fn new() -> Finder {
        Finder { last: None }
    }

    fn find<T>(&mut self, items: &[T], key: impl Fn(&T) -> &str, wanted: &str) -> Option<usize> {
        if let Some(i) = self.last
            && items.get(i).is_some_and(|x| key(x) == wanted)
        {
            return Some(i);
        }
        let i = items.binary_search_by(|x| key(x).cmp(wanted)).ok()?;
        self.last = Some(i);
        Some(i)
    }
}

/// Runs `f` on the tenant a row belongs to (rows of unknown tenants can't exist: foreign keys).
fn in_tenant<'t>(tenants: &'t mut [Tenant], finder: &mut Finder, id: &str) -> Option<&'t mut Tenant> {
    let i = finder.find(tenants, |t| t.id.as_str(), id)?;
    tenants.get_mut(i)
}

/// Builds canonical tenants (sorted by id) out of their rows.
pub(super) fn assemble(rows: Rows) -> Vec<Tenant> {
    let mut tenants: Vec<Tenant> = rows
        .tenants
        .into_iter()
        .map(|(id, default_caller_id)| Tenant { id, default_caller_id, ..Tenant::default() })
        .collect();
    tenants.sort_by(|a, b| a.id.cmp(&b.id));

    let mut f = Finder::new();
    for (tenant, dial) in rows.emergency_numbers {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.emergency_numbers.push(dial);
        }
    }
    for (tenant, id) in rows.sites {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.sites.push(Site { id });
        }
    }
    for (tenant, number, site, extension, emergency_callback) in rows.numbers {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.numbers.push(Number { number, site, extension, emergency_callback });
        }
    }
    for (tenant, id, number, site) in rows.queues {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.queues.push(Queue { id, number, site, ..Queue::default() });
        }
    }
    for (tenant, id, description, scope) in rows.roles {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.roles.push(CustomRole { id, description, scope, ..CustomRole::default() });
        }
    }
    for (tenant, code, feature, restricted) in rows.feature_codes {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            t.feature_codes.push(FeatureCode { code, feature, roles: restricted.then(Vec::new) });
        }
    }
    for (tenant, id, role, custom_role, site, default_caller_id, status, full) in rows.users {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            let mut user = User { id, role, custom_role, site, default_caller_id, status, ..User::default() };
            user.grants.full_call_report_access = full;
            t.users.push(user);
        }
    }
    // Parents sorted by key, so their children's rows find them by binary search.
    for t in &mut tenants {
        t.users.sort_by(|a, b| a.id.cmp(&b.id));
        t.queues.sort_by(|a, b| a.id.cmp(&b.id));
        t.roles.sort_by(|a, b| a.id.cmp(&b.id));
        t.feature_codes.sort_by(|a, b| a.code.cmp(&b.code));
    }

    let mut child = Finder::new();
    for (tenant, ext, site, user) in rows.extensions {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant) {
            if let Some(owner) = &user
                && let Some(i) = child.find(&t.users, |u| u.id.as_str(), owner)
                && let Some(u) = t.users.get_mut(i)
            {
                u.extensions.push(ext.clone());
            }
            t.extensions.push(Extension { ext, site, user });
        }
    }
    for (rows, supervisors) in [(rows.queue_agents, false), (rows.queue_supervisors, true)] {
        let mut child = Finder::new();
        for (tenant, queue, user) in rows {
            if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant)
                && let Some(i) = child.find(&t.queues, |q| q.id.as_str(), &queue)
                && let Some(q) = t.queues.get_mut(i)
            {
                if supervisors { q.supervisors.push(user) } else { q.agents.push(user) }
            }
        }
    }
    let mut child = Finder::new();
    for (tenant, role, category, action) in rows.role_permissions {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant)
            && let Some(i) = child.find(&t.roles, |r| r.id.as_str(), &role)
            && let Some(r) = t.roles.get_mut(i)
        {
            r.permissions.entry(category).or_default().push(action);
        }
    }
    let mut child = Finder::new();
    for (tenant, code, role) in rows.feature_code_roles {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant)
            && let Some(i) = child.find(&t.feature_codes, |c| c.code.as_str(), &code)
            && let Some(c) = t.feature_codes.get_mut(i)
        {
            c.roles.get_or_insert_with(Vec::new).push(role);
        }
    }
    let mut child = Finder::new();
    for (tenant, user, kind, value) in rows.user_grants {
        if let Some(t) = in_tenant(&mut tenants, &mut f, &tenant)
            && let Some(i) = child.find(&t.users, |u| u.id.as_str(), &user)
            && let Some(u) = t.users.get_mut(i)
        {
            let list = match kind.as_str() {
                GRANT_EXTENSION => &mut u.grants.extensions,
                GRANT_QUEUE => &mut u.grants.queues,
                GRANT_NUMBER => &mut u.grants.numbers,
                GRANT_FEATURE => &mut u.grants.features,
                _ => continue,
            };
            list.push(value);
        }
    }
    tenants.into_iter().map(Tenant::canonical).collect()
}

/// The form a tenant is stored in: validated (so canonical, extension ownership written both
/// ways), and with the matrix entries that grant nothing (`extensions: []`) dropped, as a
/// table of (category, action) rows can't keep them. Loading gives back exactly this.
pub(super) fn storable(mut tenant: Tenant) -> Tenant {
    for r in &mut tenant.roles {
        r.permissions.retain(|_, actions| !actions.is_empty());
    }
    tenant
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_several_tenants_assemble_in_any_order() {
        let rows = Rows {
            tenants: vec![("b".into(), None), ("a".into(), Some("+15550100000".into()))],
            users: vec![
                ("b".into(), "zed".into(), "basic_user".into(), None, None, None, None, false),
                ("a".into(), "bob".into(), "non_admin".into(), None, None, None, Some("suspended".into()), true),
                ("a".into(), "al".into(), "tenant_admin".into(), None, None, None, None, false),
            ],
            extensions: vec![("a".into(), "101".into(), None, Some("al".into()))],
            user_grants: vec![
                ("a".into(), "bob".into(), GRANT_QUEUE.into(), "q".into()),
                ("a".into(), "al".into(), GRANT_FEATURE.into(), "sms".into()),
            ],
            feature_codes: vec![("b".into(), "*46".into(), "queue_pause_toggle".into(), true)],
            ..Rows::default()
        };
        let tenants = assemble(rows);
        assert_eq!(tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let a = &tenants[0];
        assert_eq!(a.users[0].id, "al");
        assert_eq!(a.users[0].extensions, ["101"]);
        assert_eq!(a.users[0].grants.features, ["sms"]);
        assert_eq!(a.users[1].grants.queues, ["q"]);
        assert!(a.users[1].grants.full_call_report_access);
        assert_eq!(tenants[1].feature_codes[0].roles, Some(vec![]));
    }
}
