//! The items of two keyed lists that differ — what a write to a large tenant actually
//! changes. Both the row diff ([`super::rowdiff`]) and the change log's diff
//! ([`super::diff`]) start from it, so one edit in a 100,000-user tenant turns into work on
//! the few items it touched, not on every user.

use foldhash::{HashMap, HashMapExt};

use callgate::model::Tenant;

/// The items of `old` and of `new` that are not in the other list, equal, under the same key;
/// each in its list's order. Linear: the common prefix and suffix (equal items at equal
/// positions — how one edit of a stored, canonical list looks) are skipped by comparison
/// alone; only what lies between is matched by key through a hash map.
pub(super) fn differing<'a, T: PartialEq>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> &str,
) -> (Vec<&'a T>, Vec<&'a T>) {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old_rest, new_rest) = (
        old.get(prefix..).unwrap_or(&[]),
        new.get(prefix..).unwrap_or(&[]),
    );
    let suffix = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = old_rest.get(..old_rest.len() - suffix).unwrap_or(&[]);
    let new_mid = new_rest.get(..new_rest.len() - suffix).unwrap_or(&[]);
    let index = |xs: &'a [T]| {
        let mut map: HashMap<&str, &'a T> = HashMap::with_capacity(xs.len());
        for x in xs {
            map.entry(key(x)).or_insert(x);
        }
        map
    };
    let (old_at, new_at) = (index(old_mid), index(new_mid));
    let gone = old_mid
        .iter()
        .filter(|x| new_at.get(key(x)) != Some(x))
        .collect();
    let came = new_mid
        .iter()
        .filter(|x| old_at.get(key(x)) != Some(x))
        .collect();
    (gone, came)
}

/// A tenant narrowed to some of its things (all of them, or those that differ from another
/// tenant's), with its own fields whole.
pub(super) struct Parts<'a> {
    pub tenant: &'a Tenant,
    pub sites: Vec<&'a callgate::model::Site>,
    pub numbers: Vec<&'a callgate::model::Number>,
    pub extensions: Vec<&'a callgate::model::Extension>,
    pub queues: Vec<&'a callgate::model::Queue>,
    pub roles: Vec<&'a callgate::model::CustomRole>,
    pub feature_codes: Vec<&'a callgate::model::FeatureCode>,
    pub users: Vec<&'a callgate::model::User>,
}

impl<'a> Parts<'a> {
    /// Everything of `t`.
    pub fn whole(t: &'a Tenant) -> Parts<'a> {
        Parts {
            tenant: t,
            sites: t.sites.iter().collect(),
            numbers: t.numbers.iter().collect(),
            extensions: t.extensions.iter().collect(),
            queues: t.queues.iter().collect(),
            roles: t.roles.iter().collect(),
            feature_codes: t.feature_codes.iter().collect(),
            users: t.users.iter().collect(),
        }
    }

    /// The things of `before` and of `after` that differ ([`differing`], list by list).
    pub fn differing(before: &'a Tenant, after: &'a Tenant) -> (Parts<'a>, Parts<'a>) {
        let (sites_b, sites_a) = differing(&before.sites, &after.sites, |x| &x.id);
        let (numbers_b, numbers_a) = differing(&before.numbers, &after.numbers, |x| &x.number);
        let (ext_b, ext_a) = differing(&before.extensions, &after.extensions, |x| &x.ext);
        let (queues_b, queues_a) = differing(&before.queues, &after.queues, |x| &x.id);
        let (roles_b, roles_a) = differing(&before.roles, &after.roles, |x| &x.id);
        let (codes_b, codes_a) =
            differing(&before.feature_codes, &after.feature_codes, |x| &x.code);
        let (users_b, users_a) = differing(&before.users, &after.users, |x| &x.id);
        (
            Parts {
                tenant: before,
                sites: sites_b,
                numbers: numbers_b,
                extensions: ext_b,
                queues: queues_b,
                roles: roles_b,
                feature_codes: codes_b,
                users: users_b,
            },
            Parts {
                tenant: after,
                sites: sites_a,
                numbers: numbers_a,
                extensions: ext_a,
                queues: queues_a,
                roles: roles_a,
                feature_codes: codes_a,
                users: users_a,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::differing;

    #[derive(Debug, PartialEq)]
    struct Item(&'static str, u32);

    fn keys(xs: &[&Item]) -> Vec<(&'static str, u32)> {
        xs.iter().map(|x| (x.0, x.1)).collect()
    }

    #[test]
    fn only_what_differs_is_kept_on_each_side() {
        let old = [
            Item("a", 1),
            Item("b", 1),
            Item("c", 1),
            Item("d", 1),
            Item("e", 1),
        ];
        // b removed, d changed, f added, a and e untouched.
        let new = [
            Item("a", 1),
            Item("c", 1),
            Item("d", 2),
            Item("e", 1),
            Item("f", 1),
        ];
        let (gone, came) = differing(&old, &new, |x| x.0);
        assert_eq!(keys(&gone), [("b", 1), ("d", 1)]);
        assert_eq!(keys(&came), [("d", 2), ("f", 1)]);
        // Reordered but equal: nothing differs.
        let shuffled = [
            Item("e", 1),
            Item("d", 1),
            Item("c", 1),
            Item("b", 1),
            Item("a", 1),
        ];
        let (gone, came) = differing(&old, &shuffled, |x| x.0);
        assert!(gone.is_empty() && came.is_empty());
        // One side empty: all of the other.
        let (gone, came) = differing(&old, &[], |x| x.0);
        assert_eq!((gone.len(), came.len()), (5, 0));
        let (gone, came) = differing(&old, &old, |x| x.0);
        assert!(gone.is_empty() && came.is_empty());
    }
}
