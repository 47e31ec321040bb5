//! What a change did to a tenant, for the change log's `detail`: the same JSON as
//! `crate::audit::tenant_diff` (a test oracle), computed in time linear in the tenant's size (each list's
//! items are matched by key through a hash map, not by scanning the other list for each), so
//! re-importing a tenant of 80,000 changed users does not hold the writer lock for minutes.

use foldhash::{HashMap, HashMapExt};

use callgate::model::Tenant;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The items of one list added (whole), removed (by key) and changed (before and after),
/// matched by key; only the items that differ ([`super::keyed::differing`]) are looked at, and
/// turned into JSON. `None` when nothing differs.
fn list_diff<'a, T: Serialize + PartialEq>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> &str,
) -> Option<Value> {
    let (old, new) = super::keyed::differing(old, new, &key);
    if old.is_empty() && new.is_empty() {
        return None;
    }
    // The first item of each key, as a scan from the front would find it.
    let index = |xs: &[&'a T]| {
        let mut map: HashMap<&'a str, &'a T> = HashMap::with_capacity(xs.len());
        for &x in xs {
            map.entry(key(x)).or_insert(x);
        }
        map
    };
    let json = |x: &T| serde_json::to_value(x).unwrap_or(Value::Null);
    let (old_at, new_at) = (index(&old), index(&new));
    let added: Vec<Value> = new
        .iter()
        .filter(|x| !old_at.contains_key(key(x)))
        .map(|x| json(x))
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .map(|x| key(x))
        .filter(|k| !new_at.contains_key(k))
        .collect();
    let changed: Vec<Value> = new
        .iter()
        .filter_map(|x| {
            let k = key(x);
            let o = old_at.get(k)?;
            (*o != *x).then(|| json!({ "key": k, "before": json(o), "after": json(x) }))
        })
        .collect();
    Some(json!({ "added": added, "removed": removed, "changed": changed }))
}

/// One of a tenant's own fields, as its JSON holds it.
type Field = fn(&Tenant) -> Value;

/// For each list of the directory format, the items added (whole), removed (by key) and
/// changed (before and after), and the tenant's own fields that changed. `None` on a side
/// means the tenant didn't exist (created / deleted).
pub(super) fn tenant_diff(before: Option<&Tenant>, after: Option<&Tenant>) -> Value {
    let mut out = Map::new();
    out.insert(
        "operation".into(),
        Value::from(match (before, after) {
            (None, Some(_)) => "create",
            (Some(_), None) => "delete",
            _ => "update",
        }),
    );
    let empty = Tenant::default();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    // A missing tenant's fields are null, as its JSON would be.
    let field = |t: Option<&Tenant>, f: fn(&Tenant) -> Value| t.map_or(Value::Null, f);
    let own: [(&str, Field); 2] = [
        ("default_caller_id", |t| json!(t.default_caller_id)),
        // Left out of a tenant's JSON when empty, so null then.
        ("emergency_numbers", |t| {
            if t.emergency_numbers.is_empty() {
                Value::Null
            } else {
                json!(t.emergency_numbers)
            }
        }),
    ];
    for (name, get) in own {
        let (x, y) = (field(before, get), field(after, get));
        if x != y {
            out.insert(name.into(), json!({ "before": x, "after": y }));
        }
    }
    let lists = [
        ("sites", list_diff(&b.sites, &a.sites, |x| &x.id)),
        ("numbers", list_diff(&b.numbers, &a.numbers, |x| &x.number)),
        (
            "extensions",
            list_diff(&b.extensions, &a.extensions, |x| &x.ext),
        ),
        ("queues", list_diff(&b.queues, &a.queues, |x| &x.id)),
        ("roles", list_diff(&b.roles, &a.roles, |x| &x.id)),
        (
            "feature_codes",
            list_diff(&b.feature_codes, &a.feature_codes, |x| &x.code),
        ),
        ("users", list_diff(&b.users, &a.users, |x| &x.id)),
    ];
    for (name, diff) in lists {
        if let Some(d) = diff {
            out.insert(name.into(), d);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(yaml: &str) -> Tenant {
        callgate::directory::parse(yaml).unwrap().remove(0)
    }

    #[test]
    fn it_says_what_the_audit_module_says() {
        let cases = [
            (
                "tenants: [{id: t, users: [{id: a, role: basic_user}, {id: b, role: admin}]}]",
                "tenants: [{id: t, users: [{id: a, role: admin}, {id: c, role: admin}]}]",
            ),
            (
                "tenants: [{id: t, default_caller_id: '+15550000001', numbers: [{number: '+15550000001'}], sites: [{id: hq}]}]",
                "tenants: [{id: t, emergency_numbers: ['911'], numbers: [{number: '+15550000002', site: hq}], sites: [{id: hq}, {id: b}]}]",
            ),
        ];
        for (x, y) in cases {
            let (x, y) = (tenant(x), tenant(y));
            for (b, a) in [
                (Some(&x), Some(&y)),
                (Some(&y), Some(&x)),
                (None, Some(&x)),
                (Some(&y), None),
                (Some(&x), Some(&x)),
            ] {
                assert_eq!(tenant_diff(b, a), crate::audit::tenant_diff(b, a));
            }
        }
    }

    #[test]
    fn it_says_what_the_audit_module_says_of_the_demo_tenants_and_their_edits() {
        let demo = callgate::directory::parse(include_str!("../../../examples/demo.yaml")).unwrap();
        let mut edited = Vec::new();
        for t in &demo {
            let mut x = t.clone();
            if let Some(u) = x.users.first().map(|u| u.id.clone()) {
                x.delete_user(&u);
            }
            if let Some(q) = x.queues.first_mut() {
                q.agents.reverse();
                q.number = Some("999".into());
            }
            x.emergency_numbers.clear();
            x.roles.retain(|r| r.id != "manager");
            edited.push(x);
        }
        let all: Vec<&Tenant> = demo.iter().chain(&edited).collect();
        for b in &all {
            for a in &all {
                assert_eq!(
                    tenant_diff(Some(b), Some(a)),
                    crate::audit::tenant_diff(Some(b), Some(a))
                );
            }
            assert_eq!(
                tenant_diff(None, Some(b)),
                crate::audit::tenant_diff(None, Some(b))
            );
            assert_eq!(
                tenant_diff(Some(b), None),
                crate::audit::tenant_diff(Some(b), None)
            );
        }
    }
}
