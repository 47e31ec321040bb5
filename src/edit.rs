//! One change to one entity of a tenant: what the admin API's per-entity `PUT` and `DELETE`
//! do, as a value the store, the table and the feed can all act on.
//!
//! A delete removes the entity and every reference to it (the cascade the seeds describe:
//! "Users with this role lose the role's permissions but keep their built-in role's
//! defaults"), so applying one to a valid tenant in stored form leaves it valid and in stored
//! form: the store applies deletes without validating the whole tenant again
//! ([`Edit::keeps_valid`]), and writes only the rows of [`Edit::neighbourhood`], the entities
//! the edit can change. A property test (`tests/edits.rs`) checks both claims on generated
//! directories against the whole-tenant path.

use crate::model::{CustomRole, Extension, FeatureCode, Number, Queue, Tenant, User};

/// The kinds of entity a tenant holds one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A user, keyed by id.
    User,
    /// A custom role, keyed by id.
    Role,
    /// A number (DID), keyed by its E.164 text.
    Number,
    /// An extension, keyed by its dial string.
    Extension,
    /// A queue, keyed by id.
    Queue,
    /// A feature-code entry, keyed by its code.
    FeatureCode,
}

impl Kind {
    /// What an error message calls one (`user`, `feature code`, …).
    pub fn what(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Role => "role",
            Kind::Number => "number",
            Kind::Extension => "extension",
            Kind::Queue => "queue",
            Kind::FeatureCode => "feature code",
        }
    }
}

/// One entity, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// A user.
    User(User),
    /// A custom role.
    Role(CustomRole),
    /// A number.
    Number(Number),
    /// An extension.
    Extension(Extension),
    /// A queue.
    Queue(Queue),
    /// A feature-code entry.
    FeatureCode(FeatureCode),
}

impl Entity {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Entity::User(_) => Kind::User,
            Entity::Role(_) => Kind::Role,
            Entity::Number(_) => Kind::Number,
            Entity::Extension(_) => Kind::Extension,
            Entity::Queue(_) => Kind::Queue,
            Entity::FeatureCode(_) => Kind::FeatureCode,
        }
    }

    /// Its key.
    pub fn key(&self) -> &str {
        match self {
            Entity::User(u) => &u.id,
            Entity::Role(r) => &r.id,
            Entity::Number(n) => &n.number,
            Entity::Extension(e) => &e.ext,
            Entity::Queue(q) => &q.id,
            Entity::FeatureCode(c) => &c.code,
        }
    }
}

/// One change to one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Puts the entity in place of the one with its key, or adds it.
    Put(Entity),
    /// Deletes the entity of that kind and key, and every reference to it.
    Delete(Kind, String),
}

/// Replaces the item whose key is `key` with `item`, or appends it.
fn put<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &str) {
    let k = key(&item).to_string();
    match list.iter_mut().find(|x| key(x) == k) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

/// The items of `xs` that `f` picks, copied.
fn pick<T: Clone>(xs: &[T], f: impl Fn(&T) -> bool) -> Vec<T> {
    xs.iter().filter(|x| f(x)).cloned().collect()
}

/// Removes the items whose key is `k`; whether there was one.
fn remove<T>(list: &mut Vec<T>, k: &str, key: impl Fn(&T) -> &str) -> bool {
    let before = list.len();
    list.retain(|x| key(x) != k);
    list.len() != before
}

impl Edit {
    /// The kind of entity it changes.
    pub fn kind(&self) -> Kind {
        match self {
            Edit::Put(e) => e.kind(),
            Edit::Delete(kind, _) => *kind,
        }
    }

    /// The key of the entity it changes.
    pub fn key(&self) -> &str {
        match self {
            Edit::Put(e) => e.key(),
            Edit::Delete(_, key) => key,
        }
    }

    /// Whether applying it to a valid tenant in stored form leaves one, with no need to
    /// validate again: every delete does (it removes every reference to what it deletes; a
    /// list it shortens stays in order).
    pub fn keeps_valid(&self) -> bool {
        matches!(self, Edit::Delete(..))
    }

    /// Applies it to `t`; whether it changed what `t` holds (a delete of an entity `t` does
    /// not have does nothing). A put leaves `t` to be validated (and so normalized).
    pub fn apply(&self, t: &mut Tenant) -> bool {
        match self {
            Edit::Put(entity) => {
                match entity.clone() {
                    Entity::User(u) => put(&mut t.users, u, |x| &x.id),
                    Entity::Role(r) => put(&mut t.roles, r, |x| &x.id),
                    Entity::Number(n) => put(&mut t.numbers, n, |x| &x.number),
                    Entity::Extension(e) => put(&mut t.extensions, e, |x| &x.ext),
                    Entity::Queue(q) => put(&mut t.queues, q, |x| &x.id),
                    Entity::FeatureCode(c) => put(&mut t.feature_codes, c, |x| &x.code),
                }
                true
            }
            Edit::Delete(Kind::User, id) => t.delete_user(id),
            Edit::Delete(Kind::Role, id) => t.delete_role(id),
            Edit::Delete(Kind::Number, number) => t.delete_number(number),
            Edit::Delete(Kind::Extension, ext) => {
                let found = remove(&mut t.extensions, ext, |e| &e.ext);
                for u in &mut t.users {
                    u.extensions.retain(|e| e != ext);
                    u.grants.extensions.retain(|e| e != ext);
                }
                for n in &mut t.numbers {
                    if n.extension.as_deref() == Some(ext.as_str()) {
                        n.extension = None;
                    }
                }
                found
            }
            Edit::Delete(Kind::Queue, id) => {
                let found = remove(&mut t.queues, id, |q| &q.id);
                for u in &mut t.users {
                    u.grants.queues.retain(|q| q != id);
                }
                found
            }
            Edit::Delete(Kind::FeatureCode, code) => {
                remove(&mut t.feature_codes, code, |c| &c.code)
            }
        }
    }

    /// The part of `t` a delete of this edit's key can change: the tenant's own fields, the
    /// entity, and every entity that names it (in `t`'s order). Applying the edit to it
    /// changes it as applying the edit to `t` changes those entities, so the rows to write
    /// and the change log's diff come from it alone, whatever the tenant's size.
    pub fn neighbourhood(&self, t: &Tenant) -> Tenant {
        let key = self.key();
        let has = |list: &[String]| list.iter().any(|x| x == key);
        let is = |x: &Option<String>| x.as_deref() == Some(key);
        let mut part = Tenant {
            id: t.id.clone(),
            default_caller_id: t.default_caller_id.clone(),
            emergency_numbers: t.emergency_numbers.clone(),
            ..Tenant::default()
        };
        match self.kind() {
            Kind::User => {
                part.users = pick(&t.users, |u: &User| u.id == key);
                part.extensions = pick(&t.extensions, |e: &Extension| is(&e.user));
                part.queues = pick(&t.queues, |q: &Queue| has(&q.agents) || has(&q.supervisors));
            }
            Kind::Role => {
                part.roles = pick(&t.roles, |r: &CustomRole| r.id == key);
                part.users = pick(&t.users, |u: &User| is(&u.custom_role));
                part.feature_codes = pick(&t.feature_codes, |c: &FeatureCode| {
                    c.roles.as_deref().is_some_and(has)
                });
            }
            Kind::Number => {
                part.numbers = pick(&t.numbers, |n: &Number| n.number == key);
                part.users = pick(&t.users, |u: &User| {
                    has(&u.grants.numbers) || is(&u.default_caller_id)
                });
            }
            Kind::Extension => {
                part.extensions = pick(&t.extensions, |e: &Extension| e.ext == key);
                part.users = pick(&t.users, |u: &User| {
                    has(&u.extensions) || has(&u.grants.extensions)
                });
                part.numbers = pick(&t.numbers, |n: &Number| is(&n.extension));
            }
            Kind::Queue => {
                part.queues = pick(&t.queues, |q: &Queue| q.id == key);
                part.users = pick(&t.users, |u: &User| has(&u.grants.queues));
            }
            Kind::FeatureCode => {
                part.feature_codes = pick(&t.feature_codes, |c: &FeatureCode| c.code == key);
            }
        }
        part
    }
}
