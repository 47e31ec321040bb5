//! What a change did to a tenant, for the change log's `detail`: the same JSON as
//! `crate::audit::tenant_diff` (a test oracle), computed in time linear in the tenant's size (each list's
//! items are matched by key through a hash map, not by scanning the other list for each), so
//! re-importing a tenant of 80,000 changed users does not hold the writer lock for minutes.

use std::collections::HashMap;

use callgate::model::Tenant;
use serde_json::{Map, Value, json};

/// The lists of the directory format that a diff reports item by item, and each one's key.
const KEYED: [(&str, &str); 7] = [
    ("sites", "id"),
    ("numbers", "number"),
    ("extensions", "ext"),
    ("queues", "id"),
    ("roles", "id"),
    ("feature_codes", "code"),
    ("users", "id"),
];

/// For each list of the directory format, the items added (whole), removed (by key) and
/// changed (before and after), and the tenant's own fields that changed. `None` on a side
/// means the tenant didn't exist (created / deleted).
pub(super) fn tenant_diff(before: Option<&Tenant>, after: Option<&Tenant>) -> Value {
    let to_value = |t: Option<&Tenant>| {
        t.and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or(Value::Null)
    };
    let (b, a) = (to_value(before), to_value(after));
    let mut out = Map::new();
    out.insert(
        "operation".into(),
        Value::from(match (before, after) {
            (None, Some(_)) => "create",
            (Some(_), None) => "delete",
            _ => "update",
        }),
    );
    let field = |v: &Value, name: &str| v.get(name).cloned().unwrap_or(Value::Null);
    for name in ["default_caller_id", "emergency_numbers"] {
        let (x, y) = (field(&b, name), field(&a, name));
        if x != y {
            out.insert(name.into(), json!({ "before": x, "after": y }));
        }
    }
    for (list, key) in KEYED {
        let items = |v: &'_ Value| -> Vec<(String, Value)> {
            v.get(list)
                .and_then(Value::as_array)
                .map(|xs| {
                    xs.iter()
                        .map(|x| {
                            let k = x.get(key).and_then(Value::as_str).unwrap_or_default();
                            (k.to_string(), x.clone())
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old, new) = (items(&b), items(&a));
        // The first item of each key, as a scan from the front would find it.
        let index = |xs: &[(String, Value)]| {
            let mut map: HashMap<String, usize> = HashMap::with_capacity(xs.len());
            for (i, (k, _)) in xs.iter().enumerate() {
                map.entry(k.clone()).or_insert(i);
            }
            map
        };
        let (old_at, new_at) = (index(&old), index(&new));
        let added: Vec<Value> = new
            .iter()
            .filter(|(k, _)| !old_at.contains_key(k))
            .map(|(_, v)| v.clone())
            .collect();
        let removed: Vec<&str> = old
            .iter()
            .filter(|(k, _)| !new_at.contains_key(k))
            .map(|(k, _)| k.as_str())
            .collect();
        let changed: Vec<Value> = new
            .iter()
            .filter_map(|(k, v)| {
                old_at
                    .get(k)
                    .and_then(|&i| old.get(i))
                    .map(|(_, o)| o)
                    .filter(|o| *o != v)
                    .map(|o| json!({ "key": k, "before": o, "after": v }))
            })
            .collect();
        if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            out.insert(
                list.into(),
                json!({ "added": added, "removed": removed, "changed": changed }),
            );
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
}
