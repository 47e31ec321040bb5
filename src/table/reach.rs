//! Where a user's role, custom role, report access, grants and feature toggles reach, as
//! bits ([`Reach`]): the scope rules every decision applies.

use crate::catalog::{Action, Category, FEATURE_TOGGLES, REPORTING, Scope};

use super::compiled::{CompiledTenant, SiteEntry, UserEntry};
use super::index::Pos;

/// Where a user's scope reaches, as bits; see [`CompiledTenant::reach`].
pub type Reach = u8;
/// Every resource of the tenant.
pub const REACH_TENANT: Reach = 1;
/// Resources at the user's site.
pub const REACH_SITE: Reach = 2;
/// The user's own extensions and their DIDs.
pub const REACH_OWN: Reach = 4;
/// The extensions, queues and numbers in the user's grants.
pub const REACH_GRANTED: Reach = 8;
/// The queues the user supervises.
pub const REACH_SUPERVISED: Reach = 16;
/// The queues the user is an agent of (a role's `member` permissions reach these).
pub const REACH_MEMBER: Reach = 32;

/// What a scope reaches.
pub const fn reach_of(scope: Scope) -> Reach {
    match scope {
        Scope::Tenant => REACH_TENANT,
        Scope::Site => REACH_SITE | REACH_OWN,
        Scope::Assigned => REACH_OWN | REACH_GRANTED | REACH_SUPERVISED,
        Scope::Own => REACH_OWN,
        Scope::None => 0,
    }
}

impl CompiledTenant {
    /// The reach (bits) of every clause that grants `action` on `category` to `user`, and
    /// whether any clause grants it at all (a page-level check needs only that).
    #[inline]
    pub fn reach(&self, user: &UserEntry, category: Category, action: Action) -> (bool, Reach) {
        let mut any = false;
        let mut reach = 0;
        let role = user.role.get();
        if role.matrix.allows(category, action) {
            any = true;
            reach |= reach_of(role.scope);
        }
        if role.member.allows(category, action) && !user.agent_of().is_empty() {
            any = true;
            reach |= REACH_MEMBER;
        }
        if let Some(custom) = user.custom_role.and_then(|c| self.roles.at(c))
            && custom.matrix.allows(category, action)
        {
            any = true;
            reach |= reach_of(custom.scope);
        }
        if REPORTING.allows(category, action) {
            if user.full_report {
                any = true;
                reach |= REACH_TENANT;
            }
            if user.has_resource_grants() {
                any = true;
                reach |= REACH_GRANTED;
            }
        }
        let mut toggles = user.features;
        while toggles != 0 {
            let i = toggles.trailing_zeros() as usize;
            toggles &= toggles - 1;
            if let Some(t) = FEATURE_TOGGLES.get(i)
                && t.category == category
                && t.actions & action.bit() != 0
            {
                any = true;
                reach |= reach_of(t.scope);
            }
        }
        (any, reach)
    }

    /// The user's site: their own, else their lowest extension's.
    pub fn user_site(&self, user: &UserEntry) -> Option<Pos<SiteEntry>> {
        // Else the site of their lowest extension (by its text) that has one: the same
        // answer whatever order the directory lists the extensions in.
        user.site.or_else(|| {
            user.own_exts()
                .iter()
                .filter_map(|e| self.exts.at(e))
                .filter(|e| e.site.is_some())
                .min_by(|a, b| a.ext.cmp(&b.ext))
                .and_then(|e| e.site)
        })
    }
}
