//! The directory model, exactly as the directory format writes it (YAML or JSON).
//!
//! These are plain data: names are kept as text so that validation
//! ([`crate::directory::validate`]) can report every problem at once with its path. A
//! validated [`Tenant`] is what the grant table compiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A directory file: one or more tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// The tenants, each whole.
    pub tenants: Vec<Tenant>,
}

/// A tenant and everything it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// A slug: lowercase letters, digits, `-`, `_`, `.`.
    pub id: String,
    /// The caller ID used when a user has none of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_caller_id: Option<String>,
    /// Dial strings that reach emergency services. `911` and `112` are always among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergency_numbers: Vec<String>,
    /// Locations (offices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<Site>,
    /// DIDs the tenant owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<Number>,
    /// Extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
    /// Call queues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<Queue>,
    /// Custom roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<CustomRole>,
    /// Overrides and additions to the default feature-code table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_codes: Vec<FeatureCode>,
    /// The people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
}

/// A location within a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's id.
    pub id: String,
}

/// A DID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Number {
    /// E.164, `+` and digits.
    pub number: String,
    /// Where it rings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The extension it is routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Whether it is its site's emergency callback number.
    #[serde(default, skip_serializing_if = "is_false")]
    pub emergency_callback: bool,
}

/// An extension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The extension's dial string.
    pub ext: String,
    /// Where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A call queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// The queue's id.
    pub id: String,
    /// The queue's dial string (what a feature code names it by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Users who answer its calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// Users who manage it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supervisors: Vec<String>,
}

/// A tenant-defined role: a permission matrix added to a user's built-in role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRole {
    /// The role's id; may not be a built-in role's name.
    pub id: String,
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which resources it reaches: `tenant` (the default, as the seeds' "view all call
    /// history"), `site`, `assigned`, `self` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Category → actions.
    #[serde(default)]
    pub permissions: BTreeMap<String, Vec<String>>,
}

/// An entry of a tenant's feature-code table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureCode {
    /// The dial prefix, starting with `*`.
    pub code: String,
    /// The feature kind, or `disabled` to remove a default code.
    pub feature: String,
    /// The built-in or custom roles allowed to use it; absent = anyone the feature's rule lets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// A person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// A built-in role name.
    pub role: String,
    /// A custom role of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role: Option<String>,
    /// The user's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Extensions the user owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// What an admin explicitly gave the user.
    #[serde(default, skip_serializing_if = "Grants::is_empty")]
    pub grants: Grants,
    /// The caller ID the user is restricted to when they may present no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_caller_id: Option<String>,
    /// `active` (the default) or `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Explicit, per-user grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// All the tenant's call history, recordings, reports and analytics.
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_call_report_access: bool,
    /// Extensions whose activity the user sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    /// Queues whose reports and logs the user sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// Numbers whose activity the user sees and which they may present as caller ID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
    /// Feature toggles switched on (wallboard, voicemail, sms, email_reports, billing, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl User {
    /// Sorts the user's extensions and each list of grants, without repeats: their canonical
    /// form.
    pub fn sort_lists(&mut self) {
        for list in [
            &mut self.extensions,
            &mut self.grants.extensions,
            &mut self.grants.queues,
            &mut self.grants.numbers,
            &mut self.grants.features,
        ] {
            list.sort();
            list.dedup();
        }
    }
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        *self == Grants::default()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Tenant {
    /// Deletes a custom role as the seeds say: "Users with this role lose the role's
    /// permissions but keep their built-in role's defaults. They're not deleted — only the
    /// role assignment is removed." Feature codes stop naming it too. Whether it existed.
    pub fn delete_role(&mut self, id: &str) -> bool {
        let before = self.roles.len();
        self.roles.retain(|r| r.id != id);
        for u in &mut self.users {
            if u.custom_role.as_deref() == Some(id) {
                u.custom_role = None;
            }
        }
        for f in &mut self.feature_codes {
            if let Some(roles) = &mut f.roles {
                roles.retain(|r| r != id);
            }
        }
        self.roles.len() != before
    }

    /// Deletes a user and every reference to them (extension ownership, queue membership).
    /// Whether they existed.
    pub fn delete_user(&mut self, id: &str) -> bool {
        let before = self.users.len();
        self.users.retain(|u| u.id != id);
        for e in &mut self.extensions {
            if e.user.as_deref() == Some(id) {
                e.user = None;
            }
        }
        for q in &mut self.queues {
            q.agents.retain(|a| a != id);
            q.supervisors.retain(|s| s != id);
        }
        self.users.len() != before
    }

    /// Deletes a number and every reference to it (grants, defaults). Whether it existed.
    pub fn delete_number(&mut self, number: &str) -> bool {
        let before = self.numbers.len();
        self.numbers.retain(|n| n.number != number);
        if self.default_caller_id.as_deref() == Some(number) {
            self.default_caller_id = None;
        }
        for u in &mut self.users {
            u.grants.numbers.retain(|n| n != number);
            if u.default_caller_id.as_deref() == Some(number) {
                u.default_caller_id = None;
            }
        }
        self.numbers.len() != before
    }

    /// The same tenant with every list in a canonical order, so two files that differ only
    /// in order compare equal (and an export is stable).
    pub fn canonical(mut self) -> Tenant {
        self.emergency_numbers.sort();
        self.emergency_numbers.dedup();
        self.sites.sort_by(|a, b| a.id.cmp(&b.id));
        self.numbers.sort_by(|a, b| a.number.cmp(&b.number));
        self.extensions.sort_by(|a, b| a.ext.cmp(&b.ext));
        for q in &mut self.queues {
            q.agents.sort();
            q.agents.dedup();
            q.supervisors.sort();
            q.supervisors.dedup();
        }
        self.queues.sort_by(|a, b| a.id.cmp(&b.id));
        self.roles.sort_by(|a, b| a.id.cmp(&b.id));
        for r in &mut self.roles {
            for actions in r.permissions.values_mut() {
                actions.sort();
                actions.dedup();
            }
        }
        self.feature_codes.sort_by(|a, b| a.code.cmp(&b.code));
        for f in &mut self.feature_codes {
            if let Some(roles) = &mut f.roles {
                roles.sort();
                roles.dedup();
            }
        }
        for u in &mut self.users {
            u.sort_lists();
        }
        self.users.sort_by(|a, b| a.id.cmp(&b.id));
        self
    }
}
