//! Tenants out of their rows. A load reads each table with one query, the database
//! aggregating the table's rows per tenant into a JSON array of arrays (far cheaper to carry
//! through sqlx than a row each: a million users are a thousand values, not a million rows);
//! here each tenant's arrays are parsed and put together, tenants in parallel.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use callgate::model::{CustomRole, Extension, FeatureCode, Number, Queue, Site, Tenant, User};
use serde::de::DeserializeOwned;

/// A table a tenant's things are stored in, and the columns a load reads (after `tenant`).
pub(super) struct Part {
    /// The table.
    pub table: &'static str,
    /// The columns, in the order of the tuples they are parsed into.
    pub columns: &'static str,
}

const EMERGENCY_NUMBERS: usize = 0;
const SITES: usize = 1;
const NUMBERS: usize = 2;
const EXTENSIONS: usize = 3;
const QUEUES: usize = 4;
pub(super) const QUEUE_AGENTS: usize = 5;
const QUEUE_SUPERVISORS: usize = 6;
const ROLES: usize = 7;
const ROLE_PERMISSIONS: usize = 8;
const FEATURE_CODES: usize = 9;
const FEATURE_CODE_ROLES: usize = 10;
pub(super) const USERS: usize = 11;
pub(super) const USER_GRANTS: usize = 12;

/// Every table of a tenant's things but `tenants` itself.
pub(super) const PARTS: [Part; 13] = [
    Part {
        table: "tenant_emergency_numbers",
        columns: "dial",
    },
    Part {
        table: "sites",
        columns: "id",
    },
    Part {
        table: "numbers",
        columns: "number, site, extension, emergency_callback",
    },
    Part {
        table: "extensions",
        columns: "ext, site, user_id",
    },
    Part {
        table: "queues",
        columns: "id, number, site",
    },
    Part {
        table: "queue_agents",
        columns: "queue, user_id",
    },
    Part {
        table: "queue_supervisors",
        columns: "queue, user_id",
    },
    Part {
        table: "roles",
        columns: "id, description, scope",
    },
    Part {
        table: "role_permissions",
        columns: "role, category, action",
    },
    Part {
        table: "feature_codes",
        columns: "code, feature, restricted",
    },
    Part {
        table: "feature_code_roles",
        columns: "code, role",
    },
    Part {
        table: "users",
        columns: "id, role, custom_role, site, default_caller_id, status, full_call_report_access",
    },
    Part {
        table: "user_grants",
        columns: "user_id, kind, value",
    },
];

/// What a load read: the `tenants` rows (id, default_caller_id), and for each of [`PARTS`]
/// its rows aggregated per tenant (tenant, JSON array of the columns' arrays).
#[derive(Default)]
pub(super) struct Rows {
    pub tenants: Vec<(String, Option<String>)>,
    pub parts: [Vec<(String, String)>; 13],
}

/// The kinds of grant rows, as `user_grants.kind` writes them.
pub(super) const GRANT_EXTENSION: &str = "extension";
pub(super) const GRANT_QUEUE: &str = "queue";
pub(super) const GRANT_NUMBER: &str = "number";
pub(super) const GRANT_FEATURE: &str = "feature";

/// A boolean column: JSON `true`/`false` from Postgres, `1`/`0` from SQLite.
struct Flag(bool);

impl<'de> serde::Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean or 0/1")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flag, E> {
                Ok(Flag(v != 0))
            }
        }
        d.deserialize_any(Visitor)
    }
}

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

fn parse<T: DeserializeOwned>(json: Option<&String>) -> Result<Vec<T>, serde_json::Error> {
    json.map_or_else(|| Ok(Vec::new()), |j| serde_json::from_str(j))
}

/// One tenant out of its `tenants` row and its parts' JSON.
fn tenant(
    id: String,
    default_caller_id: Option<String>,
    parts: &[Option<String>; 13],
) -> Result<Tenant, serde_json::Error> {
    let part = |i: usize| parts.get(i).and_then(Option::as_ref);
    let mut t = Tenant {
        id,
        default_caller_id,
        ..Tenant::default()
    };
    t.emergency_numbers = parse::<(String,)>(part(EMERGENCY_NUMBERS))?
        .into_iter()
        .map(|(d,)| d)
        .collect();
    t.sites = parse::<(String,)>(part(SITES))?
        .into_iter()
        .map(|(id,)| Site { id })
        .collect();
    t.numbers = parse::<(String, Option<String>, Option<String>, Flag)>(part(NUMBERS))?
        .into_iter()
        .map(|(number, site, extension, flag)| Number {
            number,
            site,
            extension,
            emergency_callback: flag.0,
        })
        .collect();
    t.queues = parse::<(String, Option<String>, Option<String>)>(part(QUEUES))?
        .into_iter()
        .map(|(id, number, site)| Queue {
            id,
            number,
            site,
            ..Queue::default()
        })
        .collect();
    t.roles = parse::<(String, Option<String>, Option<String>)>(part(ROLES))?
        .into_iter()
        .map(|(id, description, scope)| CustomRole {
            id,
            description,
            scope,
            ..CustomRole::default()
        })
        .collect();
    t.feature_codes = parse::<(String, String, Flag)>(part(FEATURE_CODES))?
        .into_iter()
        .map(|(code, feature, restricted)| FeatureCode {
            code,
            feature,
            roles: restricted.0.then(Vec::new),
        })
        .collect();
    type UserRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Flag,
    );
    t.users = parse::<UserRow>(part(USERS))?
        .into_iter()
        .map(
            |(id, role, custom_role, site, default_caller_id, status, full)| {
                let mut user = User {
                    id,
                    role,
                    custom_role,
                    site,
                    default_caller_id,
                    status,
                    ..User::default()
                };
                user.grants.full_call_report_access = full.0;
                user
            },
        )
        .collect();
    // Parents sorted by key, so their children's rows find them by binary search.
    t.users.sort_by(|a, b| a.id.cmp(&b.id));
    t.queues.sort_by(|a, b| a.id.cmp(&b.id));
    t.roles.sort_by(|a, b| a.id.cmp(&b.id));
    t.feature_codes.sort_by(|a, b| a.code.cmp(&b.code));

    let mut owner = Finder::new();
    for (ext, site, user) in parse::<(String, Option<String>, Option<String>)>(part(EXTENSIONS))? {
        if let Some(u) = &user
            && let Some(i) = owner.find(&t.users, |u| u.id.as_str(), u)
            && let Some(u) = t.users.get_mut(i)
        {
            u.extensions.push(ext.clone());
        }
        t.extensions.push(Extension { ext, site, user });
    }
    for (index, supervisors) in [(QUEUE_AGENTS, false), (QUEUE_SUPERVISORS, true)] {
        let mut queue = Finder::new();
        for (q, user) in parse::<(String, String)>(part(index))? {
            if let Some(i) = queue.find(&t.queues, |q| q.id.as_str(), &q)
                && let Some(q) = t.queues.get_mut(i)
            {
                if supervisors {
                    q.supervisors.push(user)
                } else {
                    q.agents.push(user)
                }
            }
        }
    }
    let mut role = Finder::new();
    for (r, category, action) in parse::<(String, String, String)>(part(ROLE_PERMISSIONS))? {
        if let Some(i) = role.find(&t.roles, |r| r.id.as_str(), &r)
            && let Some(r) = t.roles.get_mut(i)
        {
            r.permissions.entry(category).or_default().push(action);
        }
    }
    let mut code = Finder::new();
    for (c, r) in parse::<(String, String)>(part(FEATURE_CODE_ROLES))? {
        if let Some(i) = code.find(&t.feature_codes, |c| c.code.as_str(), &c)
            && let Some(c) = t.feature_codes.get_mut(i)
        {
            c.roles.get_or_insert_with(Vec::new).push(r);
        }
    }
    let mut user = Finder::new();
    for (u, kind, value) in parse::<(String, String, String)>(part(USER_GRANTS))? {
        if let Some(i) = user.find(&t.users, |x| x.id.as_str(), &u)
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
    Ok(t.canonical())
}

/// Builds canonical tenants (sorted by id) out of what a load read, tenants in parallel.
pub(super) fn assemble(rows: Rows) -> Result<Vec<Tenant>, serde_json::Error> {
    let mut tenants: Vec<(String, Option<String>, [Option<String>; 13])> = rows
        .tenants
        .into_iter()
        .map(|(id, default)| (id, default, Default::default()))
        .collect();
    tenants.sort_by(|a, b| a.0.cmp(&b.0));
    for (index, part) in rows.parts.into_iter().enumerate() {
        let mut finder = Finder::new();
        for (id, json) in part {
            // Rows of unknown tenants can't exist (foreign keys).
            if let Some(i) = finder.find(&tenants, |t| t.0.as_str(), &id)
                && let Some(slot) = tenants.get_mut(i).and_then(|t| t.2.get_mut(index))
            {
                *slot = Some(json);
            }
        }
    }
    in_parallel(tenants, |(id, default, parts)| tenant(id, default, &parts))
        .into_iter()
        .collect()
}

/// `f` of each item, in order, computed on every core (items taken one at a time, so a few
/// large ones don't leave the other threads idle).
pub(super) fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let inputs: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = inputs.get(i) else { break };
            let item = slot.lock().map_or(None, |mut s| s.take());
            if let Some(item) = item {
                done.push((i, f(item)));
            }
        }
        done
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
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

    fn rows(tenants: &[&str], parts: &[(usize, &str, &str)]) -> Rows {
        let mut rows = Rows {
            tenants: tenants.iter().map(|t| (t.to_string(), None)).collect(),
            ..Rows::default()
        };
        for (i, tenant, json) in parts {
            rows.parts[*i].push((tenant.to_string(), json.to_string()));
        }
        rows
    }

    #[test]
    fn parts_of_several_tenants_assemble_in_any_order() {
        let tenants = assemble(rows(
            &["b", "a"],
            &[
                (USERS, "b", r#"[["zed","basic_user",null,null,null,null,0]]"#),
                (
                    USERS,
                    "a",
                    r#"[["bob","non_admin",null,null,null,"suspended",true],["al","tenant_admin",null,null,null,null,false]]"#,
                ),
                (EXTENSIONS, "a", r#"[["101",null,"al"]]"#),
                (USER_GRANTS, "a", r#"[["bob","queue","q"],["al","feature","sms"],["al","what","x"]]"#),
                (FEATURE_CODES, "b", r#"[["*46","queue_pause_toggle",1]]"#),
            ],
        ))
        .unwrap();
        assert_eq!(
            tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let a = &tenants[0];
        assert_eq!(a.users[0].id, "al");
        assert_eq!(a.users[0].extensions, ["101"]);
        assert_eq!(a.users[0].grants.features, ["sms"]);
        assert_eq!(a.users[1].grants.queues, ["q"]);
        assert!(a.users[1].grants.full_call_report_access);
        assert_eq!(tenants[1].feature_codes[0].roles, Some(vec![]));
    }

    #[test]
    fn a_malformed_part_is_an_error() {
        assert!(assemble(rows(&["a"], &[(USERS, "a", r#"[["x"]]"#)])).is_err());
    }

    #[test]
    fn in_parallel_keeps_the_order() {
        let out = in_parallel((0..1000).collect(), |i: u32| i * 2);
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(in_parallel(Vec::<u32>::new(), |i| i), Vec::<u32>::new());
    }
}
