//! The vocabulary of permissions and the built-in role catalog.
//!
//! Categories, actions and scopes are closed sets; a role is a permission [`Matrix`] plus a
//! [`Scope`]. The fourteen roles the seeds name are one table, [`BUILTIN_ROLES`], each entry
//! carrying the seed sentence it comes from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// How many values there are.
            pub const COUNT: usize = [$($text),+].len();

            /// The snake_case name used in files, JSON and reason texts.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(|_| {
                    serde::de::Error::custom(format_args!(
                        "unknown {} `{}`", stringify!($name).to_lowercase(), s
                    ))
                })
            }
        }
    };
}

/// A name that is not one of the closed set it was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown name")]
pub struct UnknownName;

named_enum! {
    /// What a permission is about: a page of the portal or a kind of PBX object.
    pub enum Category {
        /// Create/edit/delete user extensions.
        Extensions = "extensions",
        /// Desk phones.
        Provisioning = "provisioning",
        /// DIDs; `edit` is what lets a role present a number as caller ID.
        PhoneNumbers = "phone_numbers",
        /// Call routing.
        CallFlows = "call_flows",
        /// Ring groups.
        RingGroups = "ring_groups",
        /// Queues and their agents; `edit` is what lets a role pause other agents.
        CallQueues = "call_queues",
        /// Voicemail boxes.
        Voicemail = "voicemail",
        /// Call parking.
        ParkingLots = "parking_lots",
        /// Pickup groups.
        PickupGroups = "pickup_groups",
        /// Paging groups.
        PagingGroups = "paging_groups",
        /// External-number shortcuts.
        CustomDestinations = "custom_destinations",
        /// Star codes.
        FeatureCodes = "feature_codes",
        /// Audio files.
        Media = "media",
        /// Call records.
        CallHistory = "call_history",
        /// Dashboards.
        Analytics = "analytics",
        /// The people who log into the portal ("Portal Users").
        Users = "users",
        /// Tenant-wide configuration.
        Settings = "settings",
        /// The outbound auto-dialer.
        Campaigns = "campaigns",
        /// Faxes.
        Fax = "fax",
        /// Subscription and billing.
        Billing = "billing",
        /// Portal user invitations.
        Invitations = "invitations",
        /// The consent / admin setup page.
        AdminSetup = "admin_setup",
        /// Call recordings.
        CallRecordings = "call_recordings",
        /// Reports.
        Reports = "reports",
        /// The directory of contacts.
        Contacts = "contacts",
        /// Do-not-call and record lists.
        DncLists = "dnc_lists",
        /// Workgroups.
        Workgroups = "workgroups",
        /// Custom role definitions.
        Roles = "roles",
        /// API keys, webhooks, CRM connections.
        Integrations = "integrations",
        /// The supervisor workspace.
        SupervisorWorkspace = "supervisor_workspace",
        /// Wallboards.
        Wallboard = "wallboard",
        /// Text messages.
        Sms = "sms",
    }
}

named_enum! {
    /// What is done to a category.
    pub enum Action {
        /// See the data.
        View = "view",
        /// Make new entries.
        Create = "create",
        /// Modify existing entries.
        Edit = "edit",
        /// Remove entries.
        Delete = "delete",
        /// Take a copy away (recordings, reports).
        Download = "download",
    }
}

named_enum! {
    /// Which resources of its tenant a permission reaches.
    pub enum Scope {
        /// Every resource of the tenant.
        Tenant = "tenant",
        /// Resources at the user's site, and the user's own.
        Site = "site",
        /// Resources in the user's grants, queues they supervise, and their own.
        Assigned = "assigned",
        /// The user's own extensions, their numbers, and the calls they took part in.
        Own = "self",
        /// Nothing at call time (page-level permissions only).
        None = "none",
    }
}

impl Action {
    /// This action's bit in a [`Matrix`] row.
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of actions: one row of a [`Matrix`].
pub type ActionSet = u8;
/// No action.
pub const NONE: ActionSet = 0;
/// `view`.
pub const VIEW: ActionSet = Action::View.bit();
/// `view` and `download`: what "read" means in the seeds.
pub const READ: ActionSet = Action::View.bit() | Action::Download.bit();
/// Every action.
pub const EVERY: ActionSet = 0b1_1111;
/// `view`, `create`, `edit` (manage without deleting).
pub const VCE: ActionSet = Action::View.bit() | Action::Create.bit() | Action::Edit.bit();
/// `view`, `create`, `edit`, `delete`: the four of the permission-matrix seed.
pub const VCED: ActionSet = VCE | Action::Delete.bit();

/// A permission matrix: for each category, a set of actions. 32 bytes, `Copy`, const-built.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Matrix([ActionSet; Category::COUNT]);

impl Matrix {
    /// No permission at all.
    pub const EMPTY: Matrix = Matrix([NONE; Category::COUNT]);
    /// Every action on every category.
    pub const FULL: Matrix = Matrix([EVERY; Category::COUNT]);

    /// The same actions on every category.
    pub const fn uniform(actions: ActionSet) -> Matrix {
        Matrix([actions & EVERY; Category::COUNT])
    }

    /// This matrix with `category`'s row set to exactly `actions`.
    pub const fn with(self, category: Category, actions: ActionSet) -> Matrix {
        let mut rows = self.0;
        // `Category::COUNT` is the array length and every discriminant is below it.
        #[expect(
            clippy::indexing_slicing,
            reason = "enum discriminant < COUNT by construction"
        )]
        {
            rows[category as usize] = actions & EVERY;
        }
        Matrix(rows)
    }

    /// The actions this matrix allows on `category`.
    #[inline]
    pub fn actions(&self, category: Category) -> ActionSet {
        self.0.get(category as usize).copied().unwrap_or(NONE)
    }

    /// Whether `action` on `category` is allowed.
    #[inline]
    pub fn allows(&self, category: Category, action: Action) -> bool {
        self.actions(category) & action.bit() != 0
    }

    /// The non-empty rows as `(category, actions)`, in category order.
    pub fn rows(&self) -> impl Iterator<Item = (Category, Vec<Action>)> + '_ {
        Category::ALL.iter().filter_map(move |&c| {
            let set = self.actions(c);
            (set != NONE).then(|| (c, actions_of(set)))
        })
    }
}

/// The actions in a set, in declaration order.
pub fn actions_of(set: ActionSet) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| set & a.bit() != 0)
        .collect()
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.rows()).finish()
    }
}

/// One entry of the built-in role catalog.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRole {
    /// The role's name, as the seed names it, in snake_case.
    pub name: &'static str,
    /// The product whose documentation defines it.
    pub product: &'static str,
    /// Which resources the matrix reaches.
    pub scope: Scope,
    /// What the role may do.
    pub matrix: Matrix,
    /// What the role may also do over the queues the user is an agent of, whatever its scope.
    pub member: Matrix,
    /// The seed sentence the entry comes from.
    pub source: &'static str,
}

impl BuiltinRole {
    /// Whether the role is an administrator: everything, tenant-wide, and so can't be
    /// narrowed (a custom role only ever adds).
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Tenant && self.matrix == Matrix::FULL
    }
}

/// A built-in role, by its index in [`BUILTIN_ROLES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleId(u8);

impl RoleId {
    /// No role at all: what a user whose role can't be found gets (validation prevents it).
    pub const NOBODY: RoleId = RoleId(u8::MAX);

    /// The catalog entry.
    pub fn get(self) -> &'static BuiltinRole {
        BUILTIN_ROLES.get(self.0 as usize).unwrap_or(&NO_ROLE)
    }

    /// Looks a built-in role up by its name.
    pub fn by_name(name: &str) -> Option<RoleId> {
        BUILTIN_ROLES
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(RoleId)
    }
}

/// What an out-of-range [`RoleId`] means: nothing (unreachable; ids come from `by_name`).
const NO_ROLE: BuiltinRole = BuiltinRole {
    name: "",
    product: "",
    scope: Scope::None,
    matrix: Matrix::EMPTY,
    member: Matrix::EMPTY,
    source: "",
};

use Category as C;

/// Categories that describe portal users and their invitations (Call Manager's "Portal Users
/// or Portal User Invitations"), plus role management, which the Owner alone has there.
const WRITER: Matrix = Matrix::FULL
    .with(C::Users, READ)
    .with(C::Invitations, READ)
    .with(C::Roles, READ);

/// What a Basic User has on its own profile: its extension's settings (forwarding, answering
/// rules), its voicemail, its calls and recordings, and the domain's contacts.
const BASIC_USER: Matrix = Matrix::EMPTY
    .with(C::Extensions, Action::View.bit() | Action::Edit.bit())
    .with(C::Voicemail, VCED)
    .with(C::CallHistory, VIEW)
    .with(C::CallRecordings, READ)
    .with(C::Contacts, VIEW);

/// The call-centre categories a supervisor reaches for the queues it manages.
const SUPERVISOR: Matrix = BASIC_USER
    .with(C::CallQueues, Action::View.bit() | Action::Edit.bit())
    .with(C::Reports, READ)
    .with(C::Analytics, VIEW)
    .with(C::SupervisorWorkspace, VCE)
    .with(C::Wallboard, VIEW)
    .with(C::Users, VIEW);

/// The built-in role catalog: every role the five seeds name.
pub static BUILTIN_ROLES: [BuiltinRole; 14] = [
    // Call Manager
    BuiltinRole {
        name: "owner",
        product: "Call Manager",
        scope: Scope::Tenant,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "Owner can carry out all read and writes actions on the tenant in Call Manager. \
                 This includes the ability to invite additional portal users and manage roles.",
    },
    BuiltinRole {
        name: "writer",
        product: "Call Manager",
        scope: Scope::Tenant,
        matrix: WRITER,
        member: Matrix::EMPTY,
        source: "Writer can carry out all read and writes actions except those for Portal Users \
                 or Portal User Invitations. For those two object types they have only read access.",
    },
    BuiltinRole {
        name: "reader",
        product: "Call Manager",
        scope: Scope::Tenant,
        matrix: Matrix::uniform(READ),
        member: Matrix::EMPTY,
        source: "Full read-only access to the tenant. [...] They have no write access, so cannot \
                 make any changes.",
    },
    BuiltinRole {
        name: "tenant_setup",
        product: "Call Manager",
        scope: Scope::None,
        matrix: Matrix::EMPTY.with(C::AdminSetup, Action::View.bit() | Action::Edit.bit()),
        member: Matrix::EMPTY,
        source: "The user is only able to see the Admin Setup page, and only has enough \
                 permission to grant consent access [...] They cannot read any other data.",
    },
    // Users & Roles (tenant admin / tenant user with custom roles)
    BuiltinRole {
        name: "tenant_admin",
        product: "Users & Roles",
        scope: Scope::Tenant,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "Tenant Admin | Everything. [...] Tenant Admins effectively have all 4 on every \
                 category.",
    },
    BuiltinRole {
        name: "tenant_user",
        product: "Users & Roles",
        scope: Scope::Own,
        matrix: Matrix::EMPTY
            .with(C::Voicemail, VIEW)
            .with(C::CallHistory, VIEW)
            .with(C::Contacts, VIEW),
        member: Matrix::EMPTY,
        source: "Tenant User | Default permissions: view own voicemail, view own call history, \
                 view directory. Can't change settings or see other users' data.",
    },
    // User Permissions & Access Control (admin / non-admin with scoped grants)
    BuiltinRole {
        name: "admin",
        product: "User Permissions & Access Control",
        scope: Scope::Tenant,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "Admins have unrestricted access to: All features and modules All call logs and \
                 recordings All reports and dashboards Billing, system settings, integrations, \
                 user management, and more",
    },
    BuiltinRole {
        name: "non_admin",
        product: "User Permissions & Access Control",
        scope: Scope::Assigned,
        matrix: Matrix::EMPTY.with(C::CallHistory, VIEW),
        member: Matrix::EMPTY,
        source: "Non-Admin users can only access the features and data explicitly allowed by the \
                 Admin. [...] No Report Permissions | Only their own call history (if they have \
                 an extension)",
    },
    // Manager Portal user scopes
    BuiltinRole {
        name: "office_manager",
        product: "Manager Portal",
        scope: Scope::Tenant,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "An Office Manager is the highest scope that can be provided within a domain, it \
                 can view all information, make changes related to the domain that they belong to.",
    },
    BuiltinRole {
        name: "site_manager",
        product: "Manager Portal",
        scope: Scope::Site,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "A Site Manager is a scope similar to an Office Manager, it can access all \
                 information and make changes but ONLY to the site that they belong to.",
    },
    BuiltinRole {
        name: "call_center_supervisor",
        product: "Manager Portal",
        scope: Scope::Assigned,
        matrix: SUPERVISOR,
        member: Matrix::EMPTY,
        source: "A Call Center Supervisor has access to all queues, call center reports and \
                 agents that the user is managing.",
    },
    BuiltinRole {
        name: "call_center_agent",
        product: "Manager Portal",
        scope: Scope::Own,
        matrix: BASIC_USER,
        member: Matrix::EMPTY.with(C::CallQueues, VIEW),
        source: "A Call Center Agent has the same access level as Basic User with the addition \
                 of being able to view and use assigned call queues.",
    },
    BuiltinRole {
        name: "basic_user",
        product: "Manager Portal",
        scope: Scope::Own,
        matrix: BASIC_USER,
        member: Matrix::EMPTY,
        source: "A Basic User provides access to information for that user profile only, as well \
                 as contacts that are in the domain that they belong to.",
    },
    // Administrator with per-area scopes
    BuiltinRole {
        name: "administrator",
        product: "Contact Center roles",
        scope: Scope::Tenant,
        matrix: Matrix::FULL,
        member: Matrix::EMPTY,
        source: "Administrators have full permissions to manage the account by default: Scope \
                 All: access to all calls, call recordings, voicemails, and analytics within the \
                 account.",
    },
];

/// What `full_call_report_access` and granted extensions/queues/numbers let a user see:
/// "All call logs, reports, call recordings" — for the granted resources, or for all.
pub const REPORTING: Matrix = Matrix::EMPTY
    .with(C::CallHistory, VIEW)
    .with(C::CallRecordings, VIEW)
    .with(C::Reports, VIEW)
    .with(C::Analytics, VIEW);

/// A per-user feature toggle ("Wallboard, Voicemail, SMS, Email Reports, and more").
#[derive(Debug, Clone, Copy)]
pub struct FeatureToggle {
    /// Its name in the directory's `grants.features`.
    pub name: &'static str,
    /// The category it opens.
    pub category: Category,
    /// The actions it opens.
    pub actions: ActionSet,
    /// Which resources it reaches.
    pub scope: Scope,
}

/// The feature toggles a grant may switch on.
pub static FEATURE_TOGGLES: [FeatureToggle; 9] = [
    FeatureToggle {
        name: "wallboard",
        category: C::Wallboard,
        actions: VIEW,
        scope: Scope::Assigned,
    },
    FeatureToggle {
        name: "voicemail",
        category: C::Voicemail,
        actions: VCED,
        scope: Scope::Own,
    },
    FeatureToggle {
        name: "sms",
        category: C::Sms,
        actions: VCE,
        scope: Scope::Own,
    },
    FeatureToggle {
        name: "fax",
        category: C::Fax,
        actions: VCE,
        scope: Scope::Own,
    },
    FeatureToggle {
        name: "email_reports",
        category: C::Reports,
        actions: VIEW,
        scope: Scope::Assigned,
    },
    FeatureToggle {
        name: "billing",
        category: C::Billing,
        actions: VIEW,
        scope: Scope::Tenant,
    },
    FeatureToggle {
        name: "contacts",
        category: C::Contacts,
        actions: VCED,
        scope: Scope::Tenant,
    },
    FeatureToggle {
        name: "supervisor_workspace",
        category: C::SupervisorWorkspace,
        actions: VIEW,
        scope: Scope::Assigned,
    },
    FeatureToggle {
        name: "call_recording_download",
        category: C::CallRecordings,
        actions: Action::Download.bit(),
        scope: Scope::Assigned,
    },
];

/// The index of a feature toggle by name.
pub fn feature_toggle(name: &str) -> Option<usize> {
    FEATURE_TOGGLES.iter().position(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_name_is_unique_and_parses_back() {
        for (i, r) in BUILTIN_ROLES.iter().enumerate() {
            assert_eq!(RoleId::by_name(r.name).map(|id| id.0 as usize), Some(i));
        }
    }

    #[test]
    fn categories_fit_a_matrix_row_each() {
        assert_eq!(Category::COUNT, 32);
        assert_eq!(Category::ALL.len(), Category::COUNT);
        const { assert!(Action::COUNT <= 8) };
    }
}
