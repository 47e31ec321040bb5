//! A tenant's rows, table by table, and the fewest row changes that turn one stored tenant
//! into another: what a write sends to the database. Removing one user from a 100,000-user
//! tenant deletes that user's rows (and updates the rows that named them), instead of
//! rewriting every row of the tenant.
//!
//! Each table's rows are keyed by its primary key (after `tenant`); a row whose key is in
//! both tenants with other values is updated in place, never deleted and re-inserted, so the
//! rows that cascade from it (a queue's agents, a role's permissions) are kept.

use foldhash::HashMap;

use callgate::model::Tenant;

use super::keyed::Parts;
use super::rows;

/// One column's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Cell<'a> {
    Text(Option<&'a str>),
    Flag(bool),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Cell<'a> {
        Cell::Text(Some(s))
    }
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(s: Option<&'a str>) -> Cell<'a> {
        Cell::Text(s)
    }
}

impl From<bool> for Cell<'_> {
    fn from(b: bool) -> Self {
        Cell::Flag(b)
    }
}

/// A row: its key columns, then its other columns (both after `tenant`).
pub(super) type Row<'a> = (Vec<Cell<'a>>, Vec<Cell<'a>>);

/// A table of a tenant's things: its name, key columns and other columns (after `tenant`).
pub(super) struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub values: &'static [&'static str],
}

/// Every table of a tenant's things, parents before children (the order to insert in;
/// deletes go in reverse).
pub(super) const TABLES: [Table; 13] = [
    Table {
        name: "tenant_emergency_numbers",
        key: &["dial"],
        values: &[],
    },
    Table {
        name: "sites",
        key: &["id"],
        values: &[],
    },
    Table {
        name: "numbers",
        key: &["number"],
        values: &["site", "extension", "emergency_callback"],
    },
    Table {
        name: "extensions",
        key: &["ext"],
        values: &["site", "user_id"],
    },
    Table {
        name: "queues",
        key: &["id"],
        values: &["number", "site"],
    },
    Table {
        name: "queue_agents",
        key: &["queue", "user_id"],
        values: &[],
    },
    Table {
        name: "queue_supervisors",
        key: &["queue", "user_id"],
        values: &[],
    },
    Table {
        name: "roles",
        key: &["id"],
        values: &["description", "scope"],
    },
    Table {
        name: "role_permissions",
        key: &["role", "category", "action"],
        values: &[],
    },
    Table {
        name: "feature_codes",
        key: &["code"],
        values: &["feature", "restricted"],
    },
    Table {
        name: "feature_code_roles",
        key: &["code", "role"],
        values: &[],
    },
    Table {
        name: "users",
        key: &["id"],
        values: &[
            "role",
            "custom_role",
            "site",
            "default_caller_id",
            "status",
            "full_call_report_access",
        ],
    },
    Table {
        name: "user_grants",
        key: &["user_id", "kind", "value"],
        values: &[],
    },
];

/// A tenant's rows (of the things `p` holds, and the tenant's own emergency numbers), one list
/// per entry of [`TABLES`].
pub(super) fn tenant_rows<'a>(p: &Parts<'a>) -> [Vec<Row<'a>>; 13] {
    let t: &'a Tenant = p.tenant;
    let mut out: [Vec<Row<'_>>; 13] = Default::default();
    let [
        emergency,
        sites,
        numbers,
        extensions,
        queues,
        agents,
        supervisors,
        roles,
        permissions,
        codes,
        code_roles,
        users,
        grants,
    ] = &mut out;
    for d in &t.emergency_numbers {
        emergency.push((vec![d.as_str().into()], vec![]));
    }
    for &s in &p.sites {
        sites.push((vec![s.id.as_str().into()], vec![]));
    }
    for &n in &p.numbers {
        numbers.push((
            vec![n.number.as_str().into()],
            vec![
                n.site.as_deref().into(),
                n.extension.as_deref().into(),
                n.emergency_callback.into(),
            ],
        ));
    }
    for &e in &p.extensions {
        extensions.push((
            vec![e.ext.as_str().into()],
            vec![e.site.as_deref().into(), e.user.as_deref().into()],
        ));
    }
    for &q in &p.queues {
        queues.push((
            vec![q.id.as_str().into()],
            vec![q.number.as_deref().into(), q.site.as_deref().into()],
        ));
        for a in &q.agents {
            agents.push((vec![q.id.as_str().into(), a.as_str().into()], vec![]));
        }
        for s in &q.supervisors {
            supervisors.push((vec![q.id.as_str().into(), s.as_str().into()], vec![]));
        }
    }
    for &r in &p.roles {
        roles.push((
            vec![r.id.as_str().into()],
            vec![r.description.as_deref().into(), r.scope.as_deref().into()],
        ));
        for (category, actions) in &r.permissions {
            for a in actions {
                permissions.push((
                    vec![
                        r.id.as_str().into(),
                        category.as_str().into(),
                        a.as_str().into(),
                    ],
                    vec![],
                ));
            }
        }
    }
    for &f in &p.feature_codes {
        codes.push((
            vec![f.code.as_str().into()],
            vec![f.feature.as_str().into(), f.roles.is_some().into()],
        ));
        for r in f.roles.iter().flatten() {
            code_roles.push((vec![f.code.as_str().into(), r.as_str().into()], vec![]));
        }
    }
    for &u in &p.users {
        users.push((
            vec![u.id.as_str().into()],
            vec![
                u.role.as_str().into(),
                u.custom_role.as_deref().into(),
                u.site.as_deref().into(),
                u.default_caller_id.as_deref().into(),
                u.status.as_deref().into(),
                u.grants.full_call_report_access.into(),
            ],
        ));
        let g = &u.grants;
        for (kind, values) in [
            (rows::GRANT_EXTENSION, &g.extensions),
            (rows::GRANT_QUEUE, &g.queues),
            (rows::GRANT_NUMBER, &g.numbers),
            (rows::GRANT_FEATURE, &g.features),
        ] {
            for v in values {
                grants.push((
                    vec![u.id.as_str().into(), kind.into(), v.as_str().into()],
                    vec![],
                ));
            }
        }
    }
    out
}

/// What one table needs: rows to delete (by key), to update (key, new values), to insert.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TableChanges<'a> {
    pub deleted: Vec<Vec<Cell<'a>>>,
    pub updated: Vec<Row<'a>>,
    pub inserted: Vec<Row<'a>>,
}

#[cfg(test)]
impl TableChanges<'_> {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.updated.is_empty() && self.inserted.is_empty()
    }
}

/// The row changes that turn `before` (`None`: no rows) into `after`, table by table: linear
/// in the two tenants' sizes.
///
/// Only the things that differ ([`Parts::differing`]) are turned into rows: one user deleted
/// from a 100,000-user tenant makes that user's rows, not 100,000 users' twice over.
pub(super) fn changes<'a>(before: Option<&'a Tenant>, after: &'a Tenant) -> Vec<TableChanges<'a>> {
    let (old, new) = match before {
        Some(b) => {
            let (b, a) = Parts::differing(b, after);
            (Some(tenant_rows(&b)), tenant_rows(&a))
        }
        None => (None, tenant_rows(&Parts::whole(after))),
    };
    new.into_iter()
        .enumerate()
        .map(|(i, new_rows)| {
            let old_rows = old
                .as_ref()
                .and_then(|o| o.get(i))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            table_changes(old_rows, new_rows)
        })
        .collect()
}

fn table_changes<'a>(old: &[Row<'a>], new: Vec<Row<'a>>) -> TableChanges<'a> {
    let mut before: HashMap<&[Cell<'a>], &[Cell<'a>]> = old
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let mut out = TableChanges::default();
    for (key, values) in new {
        match before.remove(key.as_slice()) {
            Some(v) if v == values.as_slice() => {}
            Some(_) => out.updated.push((key, values)),
            None => out.inserted.push((key, values)),
        }
    }
    // What is left was not in `after`, in `before`'s order (a stable statement for a test).
    out.deleted = old
        .iter()
        .filter(|(k, _)| before.contains_key(k.as_slice()))
        .map(|(k, _)| k.clone())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use callgate::model::{Queue, User};

    fn tenant(users: &[&str]) -> Tenant {
        Tenant {
            id: "t".into(),
            users: users
                .iter()
                .map(|u| User {
                    id: (*u).into(),
                    role: "basic_user".into(),
                    ..User::default()
                })
                .collect(),
            queues: vec![Queue {
                id: "q".into(),
                agents: users.iter().map(|u| u.to_string()).collect(),
                ..Queue::default()
            }],
            ..Tenant::default()
        }
    }

    /// The row changes of every whole row of both tenants, diffed table by table: what
    /// [`changes`] must equal although it only turns the things that differ into rows.
    fn whole_changes<'a>(before: &'a Tenant, after: &'a Tenant) -> Vec<TableChanges<'a>> {
        let old = tenant_rows(&Parts::whole(before));
        tenant_rows(&Parts::whole(after))
            .into_iter()
            .zip(&old)
            .map(|(new, old)| table_changes(old, new))
            .collect()
    }

    #[test]
    fn only_the_things_that_differ_give_the_same_rows_as_the_whole_tenants() {
        let demo = callgate::directory::parse(include_str!("../../../examples/demo.yaml")).unwrap();
        let mut all = demo.clone();
        for t in &demo {
            let mut x = t.clone();
            if let Some(u) = x.users.get(1).map(|u| u.id.clone()) {
                x.delete_user(&u);
            }
            if let Some(q) = x.queues.first_mut() {
                q.agents.reverse();
                q.number = Some("999".into());
            }
            if let Some(u) = x.users.last_mut() {
                u.grants.numbers.push("+15550009999".into());
                u.site = None;
            }
            x.emergency_numbers.clear();
            x.roles.retain(|r| r.id != "manager");
            x.users.rotate_left(1);
            all.push(x);
        }
        for b in &all {
            for a in &all {
                assert_eq!(
                    changes(Some(b), a),
                    whole_changes(b, a),
                    "{} -> {}",
                    b.id,
                    a.id
                );
            }
        }
    }

    #[test]
    fn the_same_tenant_changes_nothing() {
        let t = tenant(&["a", "b"]);
        assert!(changes(Some(&t), &t).iter().all(TableChanges::is_empty));
    }

    #[test]
    fn removing_a_user_deletes_only_their_rows() {
        let before = tenant(&["a", "b", "c"]);
        let after = tenant(&["a", "c"]);
        let c = changes(Some(&before), &after);
        let users = TABLES.iter().position(|t| t.name == "users").unwrap();
        let agents = TABLES
            .iter()
            .position(|t| t.name == "queue_agents")
            .unwrap();
        assert_eq!(c[users].deleted, vec![vec![Cell::from("b")]]);
        assert_eq!(
            c[agents].deleted,
            vec![vec![Cell::from("q"), Cell::from("b")]]
        );
        let touched: usize = c
            .iter()
            .map(|t| t.deleted.len() + t.updated.len() + t.inserted.len())
            .sum();
        assert_eq!(touched, 2, "{c:?}");
    }

    #[test]
    fn a_changed_value_is_an_update_not_a_delete() {
        let before = tenant(&["a"]);
        let mut after = tenant(&["a"]);
        after.users[0].role = "tenant_admin".into();
        after.queues[0].number = Some("600".into());
        let c = changes(Some(&before), &after);
        for (i, t) in c.iter().enumerate() {
            assert!(
                t.deleted.is_empty() && t.inserted.is_empty(),
                "{}: {t:?}",
                TABLES[i].name
            );
        }
        let updated: Vec<&str> = TABLES
            .iter()
            .zip(&c)
            .filter(|(_, t)| !t.updated.is_empty())
            .map(|(t, _)| t.name)
            .collect();
        assert_eq!(updated, ["queues", "users"]);
    }

    #[test]
    fn a_new_tenant_inserts_every_row() {
        let t = tenant(&["a", "b"]);
        let c = changes(None, &t);
        let inserted: usize = c.iter().map(|t| t.inserted.len()).sum();
        assert_eq!(inserted, 2 + 1 + 2, "two users, a queue, two agents");
    }

    #[test]
    fn every_table_has_its_columns_once() {
        for t in &TABLES {
            let mut all: Vec<&str> = t.key.iter().chain(t.values).copied().collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), t.key.len() + t.values.len(), "{}", t.name);
        }
    }
}
