//! Every behaviour-defining sentence of the five seeds, as a test that quotes it.
//!
//! The demo directory (`examples/demo.yaml`) holds the people these tests ask about.

#![expect(
    clippy::unwrap_used,
    reason = "helpers parse literal category and action names"
)]

#[path = "support/demo.rs"]
#[expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a broken test fixture fails the test loudly"
)]
mod demo;

use callgate::{
    Action, Category, Outcome, Reason, Recording, RecordingAction, Resource, Table, Verdict,
};

fn perm(
    t: &Table,
    tenant: &str,
    user: &str,
    category: &str,
    action: &str,
    r: Resource<'_>,
) -> Verdict {
    t.check_permission(
        tenant,
        user,
        category.parse().unwrap(),
        action.parse().unwrap(),
        &r,
    )
}
fn allowed(
    t: &Table,
    tenant: &str,
    user: &str,
    category: &str,
    action: &str,
    r: Resource<'_>,
) -> bool {
    perm(t, tenant, user, category, action, r).outcome == Outcome::Allow
}
fn page() -> Resource<'static> {
    Resource::default()
}
fn ext(e: &str) -> Resource<'_> {
    Resource {
        extension: Some(e),
        ..Resource::default()
    }
}
fn queue(q: &str) -> Resource<'_> {
    Resource {
        queue: Some(q),
        ..Resource::default()
    }
}
fn number(n: &str) -> Resource<'_> {
    Resource {
        number: Some(n),
        ..Resource::default()
    }
}
fn site(s: &str) -> Resource<'_> {
    Resource {
        site: Some(s),
        ..Resource::default()
    }
}
fn play(t: &Table, tenant: &str, actor: &str, rec: Recording<'_>) -> Outcome {
    t.check_recording(tenant, actor, RecordingAction::Play, &rec)
        .outcome
}
fn rec_ext<'a>(exts: &'a [&'a str]) -> Recording<'a> {
    Recording {
        extensions: exts,
        ..Recording::default()
    }
}
fn rec_queue(q: &str) -> Recording<'_> {
    Recording {
        queue: Some(q),
        ..Recording::default()
    }
}
const WRITES: [Action; 3] = [Action::Create, Action::Edit, Action::Delete];

// ---------------------------------------------------------------- Call Manager (seed 000)

/// "Owner can carry out all read and writes actions on the tenant in Call Manager. This
/// includes the ability to invite additional portal users and manage roles."
#[test]
fn owner_can_carry_out_all_read_and_write_actions_including_portal_users_and_roles() {
    let t = demo::table();
    for &c in Category::ALL {
        for &a in Action::ALL {
            assert!(
                t.check_permission("globex", "oscar", c, a, &page())
                    .allowed(),
                "{c}:{a}"
            );
        }
    }
    assert!(allowed(
        &t,
        "globex",
        "oscar",
        "invitations",
        "create",
        page()
    ));
    assert!(allowed(&t, "globex", "oscar", "roles", "edit", page()));
}

/// "Writer can carry out all read and writes actions except those for Portal Users or Portal
/// User Invitations. For those two object types they have only read access."
#[test]
fn writer_has_only_read_access_to_portal_users_and_invitations() {
    let t = demo::table();
    for c in ["users", "invitations"] {
        assert!(
            allowed(&t, "globex", "wendy", c, "view", page()),
            "{c}:view"
        );
        for a in ["create", "edit", "delete"] {
            let v = perm(&t, "globex", "wendy", c, a, page());
            assert_eq!(
                (v.outcome, v.reason),
                (Outcome::Deny, Reason::ActionNotPermitted),
                "{c}:{a}"
            );
        }
    }
}

/// "Writer, like the Owner, can manage all calling components on the tenant."
#[test]
fn writer_like_the_owner_manages_all_calling_components() {
    let t = demo::table();
    for c in [
        "call_flows",
        "call_queues",
        "ring_groups",
        "extensions",
        "phone_numbers",
        "voicemail",
        "feature_codes",
    ] {
        for a in WRITES {
            assert!(
                allowed(&t, "globex", "wendy", c, a.as_str(), page()),
                "{c}:{a}"
            );
        }
    }
    // Managing numbers includes presenting any of them.
    let a = t.check_caller_id("globex", "wendy", Some("+442070000001"), "02079460000");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Allow, Reason::NumberPermitted)
    );
}

/// "Full read-only access to the tenant. The user can read and view all tenant objects,
/// including all calling components [...] plus portal users and invitations. They have no
/// write access, so cannot make any changes."
#[test]
fn reader_reads_everything_and_writes_nothing() {
    let t = demo::table();
    for &c in Category::ALL {
        assert!(
            t.check_permission("globex", "rita", c, Action::View, &page())
                .allowed(),
            "{c}:view"
        );
        for a in WRITES {
            assert!(
                !t.check_permission("globex", "rita", c, a, &page())
                    .allowed(),
                "{c}:{a}"
            );
        }
    }
    assert!(allowed(
        &t,
        "globex",
        "rita",
        "extensions",
        "view",
        ext("10")
    ));
    // No write access to numbers: she cannot take another person's DID as caller ID.
    let a = t.check_caller_id("globex", "rita", Some("+442070000001"), "02079460000");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Substitute, Reason::NumberNotPermitted)
    );
    assert_eq!(a.caller_id.unwrap().to_string(), "+442070000000");
}

/// "The user is only able to see the Admin Setup page, and only has enough permission to
/// grant consent access [...] They cannot read any other data, and cannot setup any calling
/// components or invite any portal users."
#[test]
fn tenant_setup_sees_only_the_admin_setup_page() {
    let t = demo::table();
    assert!(allowed(&t, "globex", "tess", "admin_setup", "view", page()));
    assert!(allowed(&t, "globex", "tess", "admin_setup", "edit", page()));
    for &c in Category::ALL.iter().filter(|c| **c != Category::AdminSetup) {
        for &a in Action::ALL {
            assert!(
                !t.check_permission("globex", "tess", c, a, &page())
                    .allowed(),
                "{c}:{a}"
            );
        }
    }
    assert!(!allowed(
        &t,
        "globex",
        "tess",
        "invitations",
        "create",
        page()
    ));
    assert!(!allowed(
        &t,
        "globex",
        "tess",
        "call_flows",
        "create",
        page()
    ));
}

// --------------------------------------------------------- Users & Roles (seed 001)

/// "Tenant Admin | Everything. Manage extensions, DIDs, call flows, voicemail, billing view,
/// users, roles, settings." / "Tenant Admins effectively have all 4 on every category."
#[test]
fn tenant_admin_has_all_four_on_every_category() {
    let t = demo::table();
    for &c in Category::ALL {
        for a in [Action::View, Action::Create, Action::Edit, Action::Delete] {
            assert!(
                t.check_permission("acme", "alice", c, a, &page()).allowed(),
                "{c}:{a}"
            );
            assert!(
                t.check_permission("acme", "alice", c, a, &ext("203"))
                    .allowed(),
                "{c}:{a} on 203"
            );
        }
    }
}

/// "Tenant User | Default permissions: view own voicemail, view own call history, view
/// directory. Can't change settings or see other users' data."
#[test]
fn tenant_user_sees_own_voicemail_and_history_and_the_directory_only() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "acme",
        "frank",
        "voicemail",
        "view",
        ext("102")
    ));
    assert!(allowed(
        &t,
        "acme",
        "frank",
        "call_history",
        "view",
        ext("102")
    ));
    assert!(allowed(&t, "acme", "frank", "contacts", "view", page()));
    for (c, r) in [
        ("voicemail", ext("101")),
        ("call_history", ext("101")),
        ("call_history", number("+15550100101")),
    ] {
        let v = perm(&t, "acme", "frank", c, "view", r);
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::Deny, Reason::OutOfScope),
            "{c}"
        );
    }
    assert!(!allowed(&t, "acme", "frank", "settings", "edit", page()));
    assert!(!allowed(&t, "acme", "frank", "settings", "view", page()));
    assert!(!allowed(
        &t,
        "acme",
        "frank",
        "voicemail",
        "edit",
        ext("102")
    ));
}

/// "A Tenant User with no custom role gets the defaults above. Apply a custom role to grant
/// additional permissions." / "Manager — view all call history and analytics, manage queue
/// agents (pause/unpause), no billing"
#[test]
fn a_custom_role_grants_additional_permissions_manager() {
    let t = demo::table();
    // frank: defaults only; grace: the same built-in role plus Manager.
    assert!(!allowed(
        &t,
        "acme",
        "frank",
        "call_history",
        "view",
        ext("201")
    ));
    assert!(allowed(
        &t,
        "acme",
        "grace",
        "call_history",
        "view",
        ext("201")
    ));
    assert!(allowed(
        &t,
        "acme",
        "grace",
        "analytics",
        "view",
        queue("support")
    ));
    assert_eq!(
        t.check_agent_pause("acme", "grace", "bob", "sales").outcome,
        Outcome::Allow
    );
    assert_eq!(
        t.check_agent_pause("acme", "frank", "bob", "sales").outcome,
        Outcome::Deny
    );
    assert!(!allowed(&t, "acme", "grace", "billing", "view", page()));
}

/// "For a "Receptionist" role: [the matrix] Save. Now any user assigned this role has exactly
/// these permissions." (Extensions V; Voicemail VCE; Call Flows V; Ring Groups V; Call Queues
/// V; Call History V; Media VCE; Settings, Users, Billing none.)
#[test]
fn receptionist_matrix_is_exactly_the_seeds() {
    let t = demo::table();
    let expect: &[(&str, &str)] = &[
        ("extensions", "v"),
        ("voicemail", "vce"),
        ("call_flows", "v"),
        ("ring_groups", "v"),
        ("call_queues", "v"),
        ("call_history", "v"),
        ("media", "vce"),
    ];
    // Every category and action, not only the rows the seed's table shows: a category the
    // table leaves out (settings, users, billing, and all the others) has nothing. Over
    // another person's extension, so the tenant-user defaults on her own don't count.
    for &c in Category::ALL {
        let actions = expect
            .iter()
            .find(|(name, _)| *name == c.as_str())
            .map_or("", |(_, actions)| *actions);
        for &a in Action::ALL {
            let letter = match a {
                Action::View => 'v',
                Action::Create => 'c',
                Action::Edit => 'e',
                Action::Delete => 'd',
                Action::Download => 'x',
            };
            let got = t.check_permission("acme", "rachel", c, a, &ext("101"));
            assert_eq!(got.allowed(), actions.contains(letter), "{c}:{a} {got:?}");
        }
    }
}

/// "Billing Person — view billing only, nothing else"
#[test]
fn billing_person_views_billing_only() {
    let t = demo::table();
    assert!(allowed(&t, "acme", "olivia", "billing", "view", page()));
    assert!(!allowed(&t, "acme", "olivia", "billing", "edit", page()));
    assert!(!allowed(
        &t,
        "acme",
        "olivia",
        "extensions",
        "view",
        ext("101")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "olivia",
        "call_history",
        "view",
        ext("101")
    ));
}

/// "Create custom role "Auditor": View on all categories, Create/Edit/Delete on none [...]
/// They can see everything but change nothing"
#[test]
fn auditor_sees_everything_and_changes_nothing() {
    let t = demo::table();
    let seed_categories = [
        "extensions",
        "provisioning",
        "phone_numbers",
        "call_flows",
        "ring_groups",
        "call_queues",
        "voicemail",
        "parking_lots",
        "pickup_groups",
        "paging_groups",
        "custom_destinations",
        "feature_codes",
        "media",
        "call_history",
        "analytics",
        "users",
        "settings",
        "campaigns",
        "fax",
        "billing",
    ];
    for c in seed_categories {
        assert!(allowed(&t, "acme", "heidi", c, "view", page()), "{c}:view");
        for a in ["create", "edit", "delete"] {
            assert!(!allowed(&t, "acme", "heidi", c, a, page()), "{c}:{a}");
        }
    }
    assert!(allowed(
        &t,
        "acme",
        "heidi",
        "call_history",
        "view",
        ext("203")
    ));
    assert!(allowed(
        &t,
        "acme",
        "heidi",
        "voicemail",
        "view",
        ext("201")
    ));
}

/// "Inviting with wrong role — Tenant Admin = full access; can't restrict an admin with a
/// custom role. If you want partial access, invite as Tenant User + custom role."
#[test]
fn a_custom_role_cannot_restrict_a_tenant_admin() {
    let mut tenants = demo::tenants();
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    acme.users
        .iter_mut()
        .find(|u| u.id == "alice")
        .unwrap()
        .custom_role = Some("billing_person".into());
    let t = demo::table_of(&tenants);
    for &c in Category::ALL {
        for &a in Action::ALL {
            assert!(
                t.check_permission("acme", "alice", c, a, &ext("203"))
                    .allowed(),
                "{c}:{a}"
            );
        }
    }
    assert_eq!(
        t.check_caller_id("acme", "alice", Some("+15550100201"), "5551234")
            .outcome,
        Outcome::Allow
    );
}

/// "Deleting a role: Confirm. Users with this role lose the role's permissions but keep their
/// built-in role's defaults. They're not deleted — only the role assignment is removed."
#[test]
fn deleting_a_role_leaves_its_users_with_their_built_in_defaults() {
    let mut tenants = demo::tenants();
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    assert!(acme.delete_role("manager"));
    assert!(
        acme.users
            .iter()
            .any(|u| u.id == "grace" && u.custom_role.is_none())
    );
    let t = demo::table_of(&tenants);
    assert!(!allowed(
        &t,
        "acme",
        "grace",
        "call_history",
        "view",
        ext("201")
    ));
    assert!(allowed(
        &t,
        "acme",
        "grace",
        "call_history",
        "view",
        ext("103")
    ));
    assert!(allowed(
        &t,
        "acme",
        "grace",
        "voicemail",
        "view",
        ext("103")
    ));
    assert_eq!(
        t.check_agent_pause("acme", "grace", "bob", "sales").reason,
        Reason::ActionNotPermitted
    );
}

/// "Edit the role, change the permission matrix, save. Changes apply immediately to every
/// user with this role."
#[test]
fn editing_a_role_applies_immediately_to_every_user_with_it() {
    // Users of several built-in roles hold the role; grace (another custom role) does not.
    let holders = ["olivia", "frank", "ivan", "kim"];
    let mut tenants = demo::tenants();
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    for u in &mut acme.users {
        if holders.contains(&u.id.as_str()) {
            u.custom_role = Some("billing_person".into());
        }
    }
    let t = demo::table_of(&tenants);
    for u in holders {
        assert!(allowed(&t, "acme", u, "billing", "view", page()), "{u}");
        assert!(!allowed(&t, "acme", u, "billing", "edit", page()), "{u}");
    }
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    let role = acme
        .roles
        .iter_mut()
        .find(|r| r.id == "billing_person")
        .unwrap();
    role.permissions
        .insert("billing".into(), vec!["view".into(), "edit".into()]);
    t.put(acme, 2);
    for u in holders {
        assert!(allowed(&t, "acme", u, "billing", "edit", page()), "{u}");
    }
    assert!(!allowed(&t, "acme", "grace", "billing", "edit", page()));
    assert_eq!(t.revision(), 2);
}

/// "Removing a user: Click Delete. Confirm. The user can no longer log in."
#[test]
fn a_removed_user_can_no_longer_act() {
    let mut tenants = demo::tenants();
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    assert!(acme.delete_user("bob"));
    let t = demo::table_of(&tenants);
    assert_eq!(
        t.check_caller_id("acme", "bob", Some("+15550100000"), "5551234")
            .reason,
        Reason::UnknownUser
    );
    assert_eq!(
        t.check_agent_pause("acme", "carol", "bob", "sales").reason,
        Reason::UnknownAgent
    );
}

/// "Custom role with no permissions checked — user can log in but sees an almost-empty
/// dashboard."
#[test]
fn a_custom_role_with_no_permissions_adds_nothing() {
    let tenants = demo::parse(
        "tenants: [{id: t, roles: [{id: empty, permissions: {}}], extensions: [{ext: '1', user: u}], \
         users: [{id: u, role: tenant_user, custom_role: empty}, {id: v, role: tenant_user}]}]",
    );
    let t = demo::table_of(&tenants);
    for &c in Category::ALL {
        for &a in Action::ALL {
            let with = t.check_permission("t", "u", c, a, &page()).outcome;
            let without = t.check_permission("t", "v", c, a, &page()).outcome;
            assert_eq!(with, without, "{c}:{a}");
        }
    }
}

// ------------------------------------------- Admin / non-admin with scoped grants (seed 002)

/// "Admins have unrestricted access to: All features and modules All call logs and
/// recordings All reports and dashboards Billing, system settings, integrations, user
/// management, and more"
#[test]
fn admin_has_unrestricted_access() {
    let t = demo::table();
    for a in [
        RecordingAction::Play,
        RecordingAction::Download,
        RecordingAction::Delete,
    ] {
        assert!(
            t.check_recording("initech", "peter", a, &rec_ext(&["303"]))
                .allowed()
        );
    }
    for c in [
        "billing",
        "settings",
        "integrations",
        "users",
        "reports",
        "analytics",
    ] {
        assert!(allowed(&t, "initech", "peter", c, "edit", page()), "{c}");
    }
}

/// "Non-Admin users can only access the features and data explicitly allowed by the Admin."
#[test]
fn non_admin_gets_only_what_is_explicitly_allowed() {
    let t = demo::table();
    // milton: nothing granted, so only his own call history. samir: extension 303 and a
    // number (so the reports of those: call logs, recordings, reports, dashboards), and the
    // wallboard and SMS modules.
    let milton: &[&str] = &["call_history:view"];
    let samir: &[&str] = &[
        "call_history:view",
        "call_recordings:view",
        "reports:view",
        "analytics:view",
        "wallboard:view",
        "sms:view",
        "sms:create",
        "sms:edit",
    ];
    for (user, explicit) in [("milton", milton), ("samir", samir)] {
        for &c in Category::ALL {
            for &a in Action::ALL {
                let key = format!("{c}:{a}");
                let got = t.check_permission("initech", user, c, a, &page()).outcome;
                let want = if explicit.contains(&key.as_str()) {
                    Outcome::Allow
                } else {
                    Outcome::Deny
                };
                assert_eq!(got, want, "{user} {key}");
            }
        }
    }
    // What samir was given reaches exactly what was given.
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        ext("303")
    ));
    assert!(!allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        ext("301")
    ));
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        number("+13125550002")
    ));
    assert_eq!(
        play(&t, "initech", "samir", rec_ext(&["303"])),
        Outcome::Allow
    );
    assert_eq!(
        play(&t, "initech", "samir", rec_ext(&["301"])),
        Outcome::Deny
    );
    assert_eq!(
        t.check_caller_id("initech", "samir", Some("+13125550002"), "5551234")
            .outcome,
        Outcome::Allow
    );
    assert_eq!(
        t.check_caller_id("initech", "milton", Some("+13125550002"), "5551234")
            .outcome,
        Outcome::Deny
    );
}

/// "Example 1: A Non-Admin user is granted access to Extension 101. They will see:
/// Inbound/outbound activity for Extension 101 Call logs and statistics tied to that
/// extension only" / Access Matrix: "Access to Extension A | Inbound & outbound call stats,
/// logs for that extension"
#[test]
fn example_1_a_granted_extension_shows_that_extension_only() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        ext("303")
    ));
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "analytics",
        "view",
        ext("303")
    ));
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "reports",
        "view",
        ext("303")
    ));
    assert!(!allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        ext("301")
    ));
    assert_eq!(
        play(&t, "initech", "samir", rec_ext(&["303"])),
        Outcome::Allow
    );
    assert_eq!(
        play(&t, "initech", "samir", rec_ext(&["301"])),
        Outcome::Deny
    );
}

/// "Example 2: A Non-Admin is not granted any call report permissions. They will not see:
/// Call logs Call recordings Reporting dashboards. However: If they have an extension
/// assigned, they can make/receive calls They will see only their own call activity, not
/// other users'" / "No Report Permissions | Only their own call history (if they have an
/// extension)"
#[test]
fn example_2_no_report_permissions_means_own_call_history_only() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "initech",
        "milton",
        "call_history",
        "view",
        ext("303")
    ));
    assert!(!allowed(
        &t,
        "initech",
        "milton",
        "call_history",
        "view",
        ext("302")
    ));
    assert!(!allowed(
        &t,
        "initech",
        "milton",
        "call_history",
        "view",
        queue("tps")
    ));
    assert_eq!(
        play(&t, "initech", "milton", rec_ext(&["303"])),
        Outcome::Deny
    );
    assert!(!allowed(&t, "initech", "milton", "reports", "view", page()));
    assert!(!allowed(
        &t,
        "initech",
        "milton",
        "analytics",
        "view",
        page()
    ));
}

/// "Example 3: A Non-Admin user is given Full Call Report Access. They can: View all logs,
/// reports, recordings across the account Access call statistics for all users, numbers, and
/// queues. [...] They will not have access to admin settings unless explicitly enabled."
/// / "Full Call Report Access | All data and recordings across the account"
#[test]
fn example_3_full_call_report_access_sees_all_but_no_settings() {
    let t = demo::table();
    assert_eq!(play(&t, "acme", "kim", rec_ext(&["203"])), Outcome::Allow);
    assert_eq!(
        play(&t, "acme", "kim", rec_queue("support")),
        Outcome::Allow
    );
    assert!(allowed(
        &t,
        "acme",
        "kim",
        "call_history",
        "view",
        ext("201")
    ));
    assert!(allowed(
        &t,
        "acme",
        "kim",
        "reports",
        "view",
        queue("support")
    ));
    assert!(allowed(
        &t,
        "acme",
        "kim",
        "analytics",
        "view",
        number("+15550100201")
    ));
    assert!(!allowed(&t, "acme", "kim", "settings", "view", page()));
    assert!(!allowed(&t, "acme", "kim", "settings", "edit", page()));
}

/// "Access to Queue X | Reporting data and logs related to Queue X"
#[test]
fn a_granted_queue_shows_that_queues_reports_and_logs() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "acme",
        "bob",
        "reports",
        "view",
        queue("sales")
    ));
    assert!(allowed(
        &t,
        "acme",
        "bob",
        "call_history",
        "view",
        queue("sales")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "bob",
        "reports",
        "view",
        queue("support")
    ));
    assert_eq!(play(&t, "acme", "bob", rec_queue("sales")), Outcome::Allow);
    assert_eq!(play(&t, "acme", "bob", rec_queue("support")), Outcome::Deny);
}

/// "Access to Number +353… | Activity related to that number, including outbound and inbound"
#[test]
fn a_granted_number_shows_that_numbers_activity() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        number("+13125550002")
    ));
    assert!(!allowed(
        &t,
        "initech",
        "samir",
        "call_history",
        "view",
        number("+13125550000")
    ));
    let rec = Recording {
        numbers: &["+13125550002"],
        ..Recording::default()
    };
    assert_eq!(play(&t, "initech", "samir", rec), Outcome::Allow);
}

/// "If the user is assigned access to one or more numbers via Manage Numbers, they can:
/// Choose from those numbers as Caller ID when placing calls" / "Manage Numbers | Ability to
/// select Caller ID from allowed numbers"
#[test]
fn granted_numbers_may_be_chosen_as_caller_id() {
    let t = demo::table();
    let a = t.check_caller_id("acme", "bob", Some("+15550100000"), "5551234");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Allow, Reason::NumberPermitted)
    );
    let a = t.check_caller_id("initech", "samir", Some("+13125550002"), "5551234");
    assert_eq!(
        (a.outcome, a.caller_id.unwrap().to_string().as_str()),
        (Outcome::Allow, "+13125550002")
    );
    // Not one of his: initech has no default, and samir none of his own.
    let a = t.check_caller_id("initech", "samir", Some("+13125550000"), "5551234");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Deny, Reason::NoPermittedCallerId)
    );
}

/// "User Has No Access to Numbers: In this case, outbound calls (with a caller ID) are only
/// possible if: A default number is preselected by the Admin or Onboarding Team The user is
/// restricted to using one preconfigured Caller ID"
#[test]
fn without_number_access_the_preconfigured_default_is_used() {
    let t = demo::table();
    for requested in [Some("+15550100101"), Some("+15550100000"), None] {
        let a = t.check_caller_id("acme", "ivan", requested, "5551234");
        assert_eq!(a.outcome, Outcome::Substitute, "{requested:?}");
        assert_eq!(a.caller_id.unwrap().to_string(), "+15550100600");
    }
}

/// "Without number access or a pre-assigned default, the user won't have a caller ID for
/// outbound calls."
#[test]
fn without_number_access_or_default_there_is_no_caller_id() {
    let t = demo::table();
    let a = t.check_caller_id("initech", "milton", Some("+13125550000"), "5551234");
    assert_eq!(
        (a.outcome, a.caller_id, a.reason),
        (Outcome::Deny, None, Reason::NoPermittedCallerId)
    );
}

/// "Enable/disable individual feature modules (e.g., Voicemail, Wallboard, Billing)" /
/// "Other Feature Toggles | Wallboard, Voicemail, SMS, Email Reports, and more"
#[test]
fn feature_toggles_open_their_modules_only() {
    let t = demo::table();
    assert!(allowed(&t, "initech", "samir", "wallboard", "view", page()));
    assert!(allowed(&t, "initech", "samir", "sms", "create", page()));
    assert!(!allowed(
        &t,
        "initech",
        "samir",
        "voicemail",
        "view",
        page()
    ));
    assert!(!allowed(
        &t,
        "initech",
        "milton",
        "wallboard",
        "view",
        page()
    ));
    // Billing, switched on for milton alone: he may view billing, not change it; nobody
    // else gains it.
    let mut tenants = demo::tenants();
    let initech = tenants.iter_mut().find(|t| t.id == "initech").unwrap();
    let milton = initech.users.iter_mut().find(|u| u.id == "milton").unwrap();
    milton.grants.features = vec!["billing".into()];
    let with_billing = demo::table_of(&tenants);
    assert!(!allowed(&t, "initech", "milton", "billing", "view", page()));
    assert!(allowed(
        &with_billing,
        "initech",
        "milton",
        "billing",
        "view",
        page()
    ));
    for a in ["create", "edit", "delete", "download"] {
        assert!(
            !allowed(&with_billing, "initech", "milton", "billing", a, page()),
            "{a}"
        );
    }
    assert!(!allowed(
        &with_billing,
        "initech",
        "samir",
        "billing",
        "view",
        page()
    ));
    assert!(!allowed(
        &with_billing,
        "initech",
        "milton",
        "settings",
        "view",
        page()
    ));
    // bob has voicemail switched on: his own box, not others'.
    assert!(allowed(&t, "acme", "bob", "voicemail", "view", ext("201")));
    assert!(!allowed(&t, "acme", "bob", "voicemail", "view", ext("101")));
}

// ------------------------------------------------- Manager Portal user scopes (seed 003)

/// "An Office Manager is the highest scope that can be provided within a domain, it can view
/// all information, make changes related to the domain that they belong to."
#[test]
fn office_manager_views_and_changes_the_whole_domain() {
    let t = demo::table();
    assert!(allowed(&t, "acme", "judy", "settings", "edit", page()));
    assert!(allowed(
        &t,
        "acme",
        "judy",
        "extensions",
        "edit",
        ext("203")
    ));
    assert!(allowed(
        &t,
        "acme",
        "judy",
        "call_queues",
        "edit",
        queue("support")
    ));
    assert_eq!(play(&t, "acme", "judy", rec_ext(&["203"])), Outcome::Allow);
    assert_eq!(
        t.check_agent_pause("acme", "judy", "dave", "support")
            .outcome,
        Outcome::Allow
    );
}

/// "[An Office Manager] can view all information, make changes related to the domain that
/// they belong to." — the domain they belong to only: beside acme, a tenant with acme's very
/// ids (sites, extensions, queues, numbers, users, a `judy` of its own who is a basic user)
/// answers for its own `judy`, never with acme's office manager's rights; and acme's judy
/// keeps hers.
#[test]
fn office_manager_acts_only_within_the_domain_they_belong_to() {
    let mut tenants = demo::tenants();
    let mut twin = tenants.iter().find(|t| t.id == "acme").unwrap().clone();
    twin.id = "acme-twin".into();
    for u in &mut twin.users {
        if u.id == "judy" {
            u.role = "basic_user".into();
            u.custom_role = None;
        }
    }
    tenants.push(twin);
    let t = demo::table_of(&tenants);
    let asks: [(&str, &str, Resource<'_>); 6] = [
        ("settings", "view", page()),
        ("settings", "edit", page()),
        ("extensions", "edit", ext("203")),
        ("call_queues", "edit", queue("support")),
        ("phone_numbers", "edit", number("+15550100200")),
        ("call_history", "view", site("depot")),
    ];
    for (c, a, r) in asks {
        assert!(allowed(&t, "acme", "judy", c, a, r), "acme {c}:{a} {r:?}");
        let twin = perm(&t, "acme-twin", "judy", c, a, r);
        assert_eq!(twin.outcome, Outcome::Deny, "acme-twin {c}:{a} {r:?}");
        assert_ne!(twin.reason, Reason::UnknownUser, "she is a real user there");
    }
    assert_eq!(play(&t, "acme", "judy", rec_ext(&["203"])), Outcome::Allow);
    assert_eq!(
        play(&t, "acme-twin", "judy", rec_ext(&["203"])),
        Outcome::Deny
    );
    assert!(
        t.check_agent_pause("acme", "judy", "dave", "support")
            .allowed()
    );
    assert!(
        !t.check_agent_pause("acme-twin", "judy", "dave", "support")
            .allowed()
    );
    // The twin's judy may present her own DID there, and nothing of acme's more.
    assert_eq!(
        t.check_caller_id("acme-twin", "judy", Some("+15550100200"), "5551234")
            .outcome,
        Outcome::Substitute
    );
    assert_eq!(
        t.check_caller_id("acme", "judy", Some("+15550100200"), "5551234")
            .outcome,
        Outcome::Allow
    );
}

/// "A Site Manager is a scope similar to an Office Manager, it can access all information and
/// make changes but ONLY to the site that they belong to."
#[test]
fn site_manager_changes_only_their_own_site() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "acme",
        "erin",
        "extensions",
        "edit",
        ext("202")
    ));
    assert!(allowed(
        &t,
        "acme",
        "erin",
        "extensions",
        "edit",
        site("depot")
    ));
    let v = perm(&t, "acme", "erin", "extensions", "edit", ext("101"));
    assert_eq!((v.outcome, v.reason), (Outcome::Deny, Reason::OutOfScope));
    assert!(!allowed(
        &t,
        "acme",
        "erin",
        "call_queues",
        "edit",
        queue("sales")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "erin",
        "phone_numbers",
        "view",
        number("+15550100101")
    ));
    assert_eq!(play(&t, "acme", "erin", rec_ext(&["202"])), Outcome::Allow);
    assert_eq!(play(&t, "acme", "erin", rec_ext(&["101"])), Outcome::Deny);
    let depot = Recording {
        site: Some("depot"),
        ..Recording::default()
    };
    assert_eq!(play(&t, "acme", "erin", depot), Outcome::Allow);
    // Caller ID: the site's numbers, not the other site's.
    assert_eq!(
        t.check_caller_id("acme", "erin", Some("+15550100201"), "5551234")
            .outcome,
        Outcome::Allow
    );
    let a = t.check_caller_id("acme", "erin", Some("+15550100101"), "5551234");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Substitute, Reason::NumberNotPermitted)
    );
    // Pausing: not in the hq queue.
    assert_eq!(
        t.check_agent_pause("acme", "erin", "bob", "sales").reason,
        Reason::OutOfScope
    );
}

/// "A Call Center Supervisor has access to all queues, call center reports and agents that
/// the user is managing."
#[test]
fn supervisor_reaches_the_queues_and_agents_they_manage() {
    let t = demo::table();
    let v = t.check_agent_pause("acme", "carol", "bob", "sales");
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::Allow, Reason::QueueSupervisor)
    );
    assert_eq!(
        t.check_agent_pause("acme", "carol", "dave", "support")
            .outcome,
        Outcome::Deny
    );
    assert!(allowed(
        &t,
        "acme",
        "carol",
        "reports",
        "view",
        queue("sales")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "carol",
        "reports",
        "view",
        queue("support")
    ));
    assert_eq!(
        play(&t, "acme", "carol", rec_queue("sales")),
        Outcome::Allow
    );
    assert_eq!(
        play(&t, "acme", "carol", rec_queue("support")),
        Outcome::Deny
    );
}

/// "A Call Center Agent has the same access level as Basic User with the addition of being
/// able to view and use assigned call queues."
#[test]
fn agent_is_a_basic_user_who_views_and_uses_assigned_queues() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "acme",
        "dave",
        "call_queues",
        "view",
        queue("sales")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "ivan",
        "call_queues",
        "view",
        queue("sales")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "dave",
        "call_queues",
        "edit",
        queue("sales")
    ));
    assert_eq!(
        t.check_agent_pause("acme", "dave", "dave", "sales").reason,
        Reason::SelfPause
    );
    assert_eq!(
        t.check_agent_pause("acme", "dave", "bob", "sales").outcome,
        Outcome::Deny
    );
    assert_eq!(
        t.check_feature_code("acme", "dave", "*45*600").outcome,
        Outcome::Allow
    );
    // Otherwise the same as a basic user: own profile only.
    for c in ["call_history", "voicemail", "extensions"] {
        assert_eq!(
            allowed(&t, "acme", "dave", c, "view", ext("202")),
            allowed(&t, "acme", "ivan", c, "view", ext("105")),
            "{c}"
        );
        assert!(!allowed(&t, "acme", "dave", c, "view", ext("101")), "{c}");
    }
}

/// "A Basic User provides access to information for that user profile only, as well as
/// contacts that are in the domain that they belong to."
#[test]
fn basic_user_sees_their_profile_and_the_domain_contacts() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "acme",
        "ivan",
        "call_history",
        "view",
        ext("105")
    ));
    assert!(allowed(&t, "acme", "ivan", "voicemail", "view", ext("105")));
    assert!(!allowed(
        &t,
        "acme",
        "ivan",
        "call_history",
        "view",
        ext("101")
    ));
    assert!(!allowed(
        &t,
        "acme",
        "ivan",
        "voicemail",
        "view",
        ext("101")
    ));
    assert!(allowed(&t, "acme", "ivan", "contacts", "view", page()));
    assert!(!allowed(&t, "acme", "ivan", "settings", "view", page()));
}

// -------------------------------------------------------- Administrator (seed 004)

/// "Administrators have full permissions to manage the account by default: Scope All: access
/// to all calls, call recordings, voicemails, and analytics within the account."
#[test]
fn administrator_reaches_all_calls_recordings_voicemails_and_analytics() {
    let t = demo::table();
    assert_eq!(
        play(&t, "initech", "bill", rec_ext(&["302"])),
        Outcome::Allow
    );
    assert!(allowed(
        &t,
        "initech",
        "bill",
        "voicemail",
        "view",
        ext("302")
    ));
    assert!(allowed(
        &t,
        "initech",
        "bill",
        "analytics",
        "view",
        queue("tps")
    ));
    assert!(allowed(
        &t,
        "initech",
        "bill",
        "call_history",
        "view",
        ext("301")
    ));
}

/// "Supervisor workspace — Full access" / "Reports — View & manage — All: access to all
/// reports; Download reports: ability to download the available reports." / "Auto dialer —
/// Campaigns — View & manage: creating, editing, and deleting campaigns. Lists — record and
/// DNC lists" / "Numbers — Edit number settings; Add new numbers; Delete numbers" / "Team —
/// Members: Edit user settings, Invite new members, Delete members; Workgroup; Roles" /
/// "Integrations — API, Webhooks, CRM" / "Contacts" / "Account — Edit subscription &
/// Add-ons; Refill minutes"
#[test]
fn administrator_manages_every_area() {
    let t = demo::table();
    assert!(allowed(
        &t,
        "initech",
        "bill",
        "supervisor_workspace",
        "edit",
        page()
    ));
    assert!(allowed(
        &t,
        "initech",
        "bill",
        "reports",
        "download",
        page()
    ));
    for c in [
        "campaigns",
        "dnc_lists",
        "call_flows",
        "phone_numbers",
        "users",
        "invitations",
        "workgroups",
        "roles",
        "integrations",
        "contacts",
        "billing",
    ] {
        for a in ["view", "create", "edit", "delete"] {
            assert!(allowed(&t, "initech", "bill", c, a, page()), "{c}:{a}");
        }
    }
    assert_eq!(
        t.check_caller_id("initech", "bill", Some("+13125550001"), "5551234")
            .outcome,
        Outcome::Allow
    );
}
