//! DESIGN.md's "The decisions", rule by rule: caller ID, queue agent pause, recording access,
//! feature codes, the general permission check, and the explanation built on them.
//!
//! The demo directory (`examples/demo.yaml`) holds the people these tests ask about; a rule
//! that needs a particular shape of directory builds a small one inline.

#[path = "support/demo.rs"]
#[expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a broken test fixture fails the test loudly"
)]
mod demo;

use callgate::model::{CustomRole, Queue};
use callgate::{
    Action, Category, FeatureKind, Outcome, Reason, Recording, RecordingAction, Resource, Table,
    Tenant, Verdict,
};

// ------------------------------------------------------------------------- helpers

/// An agent-pause check as every front end asks it ([`Table::check`]), which says whether it
/// is a pause or an unpause (the audit trail records which); one rule decides both.
fn pause_or_unpause(
    t: &Table,
    tenant: &str,
    actor: &str,
    agent: &str,
    queue: &str,
    paused: bool,
) -> (Outcome, Reason) {
    let check = callgate::Check::AgentPause(callgate::check::AgentPauseCheck {
        tenant: tenant.into(),
        actor: actor.into(),
        agent: agent.into(),
        queue: queue.into(),
        paused,
    });
    let answer = t.check(&check);
    (answer.outcome(), answer.reason())
}

/// A caller-ID answer as `(outcome, caller ID text, reason)`.
fn cid(
    t: &Table,
    tenant: &str,
    user: &str,
    requested: Option<&str>,
    dialed: &str,
) -> (Outcome, Option<String>, Reason) {
    let a = t.check_caller_id(tenant, user, requested, dialed);
    (a.outcome, a.caller_id.map(|n| n.to_string()), a.reason)
}

fn allow(n: &str, reason: Reason) -> (Outcome, Option<String>, Reason) {
    (Outcome::Allow, Some(n.to_string()), reason)
}

fn substitute(n: &str, reason: Reason) -> (Outcome, Option<String>, Reason) {
    (Outcome::Substitute, Some(n.to_string()), reason)
}

fn deny(reason: Reason) -> (Outcome, Option<String>, Reason) {
    (Outcome::Deny, None, reason)
}

/// A verdict as `(outcome, reason)`.
fn v(verdict: Verdict) -> (Outcome, Reason) {
    (verdict.outcome, verdict.reason)
}

const ALLOWED: Outcome = Outcome::Allow;
const DENIED: Outcome = Outcome::Deny;

/// A feature-code answer as `(outcome, feature, args, reason)`.
fn fc(
    t: &Table,
    tenant: &str,
    user: &str,
    dialed: &str,
) -> (Outcome, Option<FeatureKind>, Vec<String>, Reason) {
    let a = t.check_feature_code(tenant, user, dialed);
    (
        a.outcome,
        a.feature,
        a.args.iter().map(str::to_string).collect(),
        a.reason,
    )
}

fn feature(
    kind: FeatureKind,
    args: &[&str],
    reason: Reason,
) -> (Outcome, Option<FeatureKind>, Vec<String>, Reason) {
    (
        Outcome::Allow,
        Some(kind),
        args.iter().map(|a| a.to_string()).collect(),
        reason,
    )
}

fn refused(
    kind: Option<FeatureKind>,
    reason: Reason,
) -> (Outcome, Option<FeatureKind>, Vec<String>, Reason) {
    (Outcome::Deny, kind, Vec::new(), reason)
}

fn rec(t: &Table, actor: &str, action: RecordingAction, r: Recording<'_>) -> (Outcome, Reason) {
    v(t.check_recording("acme", actor, action, &r))
}

fn perm(
    t: &Table,
    user: &str,
    category: Category,
    action: Action,
    r: Resource<'_>,
) -> (Outcome, Reason) {
    v(t.check_permission("acme", user, category, action, &r))
}

#[expect(
    clippy::unwrap_used,
    reason = "the demo directory has acme; a test without it should fail"
)]
fn acme(tenants: &mut [Tenant]) -> &mut Tenant {
    tenants.iter_mut().find(|t| t.id == "acme").unwrap()
}

const PERMITTED: (Outcome, Reason) = (Outcome::Allow, Reason::Permitted);
const OUT_OF_SCOPE: (Outcome, Reason) = (Outcome::Deny, Reason::OutOfScope);
const NOT_PERMITTED: (Outcome, Reason) = (Outcome::Deny, Reason::ActionNotPermitted);

/// Every number acme owns.
const ACME_NUMBERS: [&str; 7] = [
    "+15550100000",
    "+15550100101",
    "+15550100102",
    "+15550100200",
    "+15550100201",
    "+15550100300",
    "+15550100600",
];

// ======================================================================= caller ID

/// "`dialed` is one of the tenant's emergency numbers → never denied, whatever the user's
/// state: [...] otherwise `substitute` with the emergency callback number: [...] the number
/// flagged `emergency_callback` at the caller's site"
#[test]
fn an_emergency_call_by_a_suspended_user_goes_out_with_their_sites_callback_number() {
    let t = demo::table();
    // mallory is suspended; her extension 204 (depot) has no DID; depot's callback is ...200.
    for dialed in ["911", "933", "112"] {
        for requested in [
            None,
            Some("+15550100000"),
            Some("+15550100201"),
            Some("garbage"),
        ] {
            assert_eq!(
                cid(&t, "acme", "mallory", requested, dialed),
                substitute("+15550100200", Reason::EmergencyCallback),
                "{dialed} {requested:?}"
            );
        }
    }
    // The same user on an ordinary call is refused.
    assert_eq!(
        cid(&t, "acme", "mallory", Some("+15550100000"), "5551234"),
        deny(Reason::UserSuspended)
    );
}

/// "`dialed` is one of the tenant's emergency numbers → never denied, whatever the user's
/// state" — a user the tenant doesn't know gets the tenant's default.
#[test]
fn an_emergency_call_by_an_unknown_user_goes_out_with_the_tenants_default() {
    let t = demo::table();
    for requested in [None, Some("+15550100101")] {
        assert_eq!(
            cid(&t, "acme", "nobody", requested, "911"),
            substitute("+15550100000", Reason::EmergencyCallback)
        );
    }
    assert_eq!(
        cid(&t, "globex", "nobody", None, "999"),
        substitute("+442070000000", Reason::EmergencyCallback)
    );
    // Not an emergency: refused.
    assert_eq!(
        cid(&t, "acme", "nobody", Some("+15550100101"), "5551234"),
        deny(Reason::UnknownUser)
    );
}

/// "Unknown tenant, unknown user and suspended user are denials." — except that emergency
/// calls are never denied: a tenant the table has never heard of still reaches the platform's
/// emergency numbers. "Only numbers the tenant owns: with none, `allow` with no caller ID
/// (its own reason code), never the number the caller asked for."
#[test]
fn an_emergency_call_in_an_unknown_tenant_is_allowed_on_the_built_in_numbers() {
    let t = demo::table();
    for dialed in callgate::dial::DEFAULT_EMERGENCY {
        assert_eq!(
            cid(&t, "nowhere", "x", Some("+15550100000"), dialed),
            (Outcome::Allow, None, Reason::EmergencyNoCallerId),
            "{dialed}: an unknown tenant owns no number, so none is asserted"
        );
        assert_eq!(
            cid(&t, "nowhere", "x", None, dialed),
            (Outcome::Allow, None, Reason::EmergencyNoCallerId)
        );
    }
    // A tenant's own extra emergency numbers are only known with the tenant.
    assert_eq!(
        cid(&t, "nowhere", "x", Some("+15550100000"), "933"),
        deny(Reason::UnknownTenant)
    );
    assert_eq!(
        cid(&t, "nowhere", "x", Some("+15550100000"), "5551234"),
        deny(Reason::UnknownTenant)
    );
}

/// "`allow(requested)` if the user may use it" (on an emergency call)
#[test]
fn an_emergency_call_keeps_a_number_the_user_may_present() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "acme", "alice", Some("+15550100600"), "911"),
        allow("+15550100600", Reason::EmergencyCall)
    );
    assert_eq!(
        cid(&t, "acme", "frank", Some("+15550100102"), "933"),
        allow("+15550100102", Reason::EmergencyCall)
    );
    assert_eq!(
        cid(&t, "acme", "bob", Some("+15550100000"), "112"),
        allow("+15550100000", Reason::EmergencyCall)
    );
}

/// "otherwise `substitute` with the emergency callback number: the DID routed to the
/// caller's extension"
#[test]
fn an_emergency_call_with_a_number_the_user_may_not_present_gets_their_own_did() {
    let t = demo::table();
    // frank may not present the main number; his extension 102 has ...102 routed to it.
    assert_eq!(
        cid(&t, "acme", "frank", Some("+15550100000"), "933"),
        substitute("+15550100102", Reason::EmergencyCallback)
    );
    assert_eq!(
        cid(&t, "acme", "frank", None, "911"),
        substitute("+15550100102", Reason::EmergencyCallback)
    );
    // A number the tenant doesn't own is not kept either.
    assert_eq!(
        cid(&t, "acme", "frank", Some("+19995550000"), "911"),
        substitute("+15550100102", Reason::EmergencyCallback)
    );
}

/// "the emergency callback number: the DID routed to the caller's extension, else the
/// number flagged `emergency_callback` at the caller's site, else the user's default, else
/// the tenant's." — each step, then none at all: "never denied".
#[test]
fn the_emergency_callback_number_is_chosen_in_the_documented_order() {
    let mut tenants = demo::parse(
        r#"
tenants:
  - id: t
    default_caller_id: "+15550000001"
    emergency_numbers: ["999"]
    sites: [{id: s}, {id: other}]
    numbers:
      - {number: "+15550000001"}
      - {number: "+15550000002"}
      - {number: "+15550000003", site: s, emergency_callback: true}
      - {number: "+15550000004", extension: "1"}
      - {number: "+15550000005", site: other, emergency_callback: true}
    extensions: [{ext: "1", site: s, user: u}]
    users:
      - {id: u, role: basic_user, site: s, default_caller_id: "+15550000002", extensions: ["1"]}
"#,
    );
    let step = |tenants: &[Tenant]| {
        cid(
            &demo::table_of(tenants),
            "t",
            "u",
            Some("+15550000001"),
            "999",
        )
    };
    // The requested number is the tenant's main line, which a basic user may not present.
    assert_eq!(
        step(&tenants),
        substitute("+15550000004", Reason::EmergencyCallback),
        "own DID"
    );
    tenants[0]
        .numbers
        .iter_mut()
        .for_each(|n| n.extension = None);
    assert_eq!(
        step(&tenants),
        substitute("+15550000003", Reason::EmergencyCallback),
        "site callback"
    );
    // The site's callback, even when the user's site is known only from their extension.
    tenants[0].users[0].site = None;
    assert_eq!(
        step(&tenants),
        substitute("+15550000003", Reason::EmergencyCallback),
        "extension's site"
    );
    tenants[0]
        .numbers
        .iter_mut()
        .filter(|n| n.site.as_deref() == Some("s"))
        .for_each(|n| n.emergency_callback = false);
    assert_eq!(
        step(&tenants),
        substitute("+15550000002", Reason::EmergencyCallback),
        "user default"
    );
    tenants[0].users[0].default_caller_id = None;
    assert_eq!(
        step(&tenants),
        substitute("+15550000001", Reason::EmergencyCallback),
        "tenant default"
    );
    tenants[0].default_caller_id = None;
    assert_eq!(
        step(&tenants),
        (Outcome::Allow, None, Reason::EmergencyNoCallerId),
        "nothing: no caller ID, never the unchecked one asked for"
    );
    assert_eq!(
        cid(&demo::table_of(&tenants), "t", "u", None, "999"),
        (Outcome::Allow, None, Reason::EmergencyNoCallerId),
        "nothing asked, nothing to give: still not denied"
    );
}

/// "The user's permitted numbers: every number within the role's scope where the role
/// grants `phone_numbers:edit`" — a tenant admin's scope is the whole tenant.
#[test]
fn a_tenant_admin_may_present_every_number_of_the_tenant() {
    let t = demo::table();
    for n in ACME_NUMBERS {
        assert_eq!(
            cid(&t, "acme", "alice", Some(n), "5551234"),
            allow(n, Reason::NumberPermitted),
            "{n}"
        );
    }
}

/// "every number within the role's scope where the role grants `phone_numbers:edit`" — a
/// site manager's scope is their site's numbers (and their own).
#[test]
fn a_site_manager_may_present_only_their_sites_numbers() {
    let t = demo::table();
    for n in ["+15550100200", "+15550100201"] {
        assert_eq!(
            cid(&t, "acme", "erin", Some(n), "5551234"),
            allow(n, Reason::NumberPermitted),
            "{n}"
        );
    }
    for n in ["+15550100101", "+15550100300", "+15550100600"] {
        assert_eq!(
            cid(&t, "acme", "erin", Some(n), "5551234"),
            substitute("+15550100000", Reason::NumberNotPermitted),
            "{n}"
        );
    }
}

/// "every number within the role's scope where the role grants `phone_numbers:edit`" — a
/// custom role's grant counts, over the custom role's scope.
#[test]
fn a_custom_role_with_phone_numbers_edit_adds_its_scopes_numbers() {
    let mut tenants = demo::tenants();
    let a = acme(&mut tenants);
    a.roles.push(CustomRole {
        id: "hq_numbers".into(),
        scope: Some("site".into()),
        permissions: [("phone_numbers".to_string(), vec!["edit".to_string()])].into(),
        ..CustomRole::default()
    });
    a.users
        .iter_mut()
        .find(|u| u.id == "frank")
        .unwrap()
        .custom_role = Some("hq_numbers".into());
    let t = demo::table_of(&tenants);
    for n in [
        "+15550100000",
        "+15550100101",
        "+15550100102",
        "+15550100300",
        "+15550100600",
    ] {
        assert_eq!(
            cid(&t, "acme", "frank", Some(n), "5551234"),
            allow(n, Reason::NumberPermitted),
            "{n}"
        );
    }
    for n in ["+15550100200", "+15550100201"] {
        assert_eq!(
            cid(&t, "acme", "frank", Some(n), "5551234"),
            substitute("+15550100000", Reason::NumberNotPermitted),
            "{n}"
        );
    }
}

/// "the numbers in grants, and the numbers routed to the user's own extensions.
/// `requested` in that set → `allow`."
#[test]
fn granted_numbers_and_own_dids_may_be_presented() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "acme", "bob", Some("+15550100000"), "5551234"),
        allow("+15550100000", Reason::NumberPermitted)
    );
    assert_eq!(
        cid(&t, "acme", "bob", Some("+15550100201"), "5551234"),
        allow("+15550100201", Reason::NumberPermitted)
    );
    assert_eq!(
        cid(&t, "acme", "frank", Some("+15550100102"), "5551234"),
        allow("+15550100102", Reason::NumberPermitted)
    );
    // Someone else's DID is not frank's to present.
    assert_eq!(
        cid(&t, "acme", "frank", Some("+15550100101"), "5551234"),
        substitute("+15550100000", Reason::NumberNotPermitted)
    );
}

/// "Otherwise the user's `default_caller_id`, else the tenant's, → `substitute`."
#[test]
fn a_number_not_permitted_is_replaced_by_the_users_default_else_the_tenants() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "acme", "ivan", Some("+15550100101"), "5551234"),
        substitute("+15550100600", Reason::NumberNotPermitted)
    );
    assert_eq!(
        cid(&t, "acme", "frank", Some("+15550100600"), "5551234"),
        substitute("+15550100000", Reason::NumberNotPermitted)
    );
    assert_eq!(
        cid(&t, "globex", "rita", Some("+442070000002"), "5551234"),
        substitute("+442070000000", Reason::NumberNotPermitted)
    );
}

/// "Otherwise `deny` (`no_permitted_caller_id`)."
#[test]
fn with_no_default_anywhere_a_number_not_permitted_is_denied() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "initech", "milton", Some("+13125550001"), "5551234"),
        deny(Reason::NoPermittedCallerId)
    );
    assert_eq!(
        cid(&t, "initech", "milton", None, "5551234"),
        deny(Reason::NoPermittedCallerId)
    );
}

/// "A `requested` number the tenant doesn't own is never allowed (`number_not_owned`),
/// whoever asks."
#[test]
fn a_number_the_tenant_does_not_own_is_never_allowed_even_to_an_admin() {
    let t = demo::table();
    for user in ["alice", "judy", "bob", "frank"] {
        // Another tenant's number, and one nobody has.
        for n in ["+442070000000", "+19995550000"] {
            assert_eq!(
                cid(&t, "acme", user, Some(n), "5551234"),
                substitute("+15550100000", Reason::NumberNotOwned),
                "{user} {n}"
            );
        }
    }
    assert_eq!(
        cid(&t, "globex", "oscar", Some("+15550100000"), "5551234"),
        substitute("+442070000000", Reason::NumberNotOwned)
    );
    assert_eq!(
        cid(&t, "initech", "bill", Some("+15550100000"), "5551234"),
        deny(Reason::NumberNotOwned)
    );
    // Text that is no number at all is no number the tenant owns.
    assert_eq!(
        cid(&t, "acme", "alice", Some("alice"), "5551234"),
        substitute("+15550100000", Reason::NumberNotOwned)
    );
}

/// "Otherwise the user's `default_caller_id`, else the tenant's, → `substitute`." — when
/// no caller ID was asked for at all.
#[test]
fn no_requested_number_gets_the_default() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "acme", "ivan", None, "5551234"),
        substitute("+15550100600", Reason::NoCallerIdRequested)
    );
    assert_eq!(
        cid(&t, "acme", "alice", None, "5551234"),
        substitute("+15550100000", Reason::NoCallerIdRequested)
    );
    assert_eq!(
        cid(&t, "globex", "oscar", None, "5551234"),
        substitute("+442070000000", Reason::NoCallerIdRequested)
    );
}

/// "may this user present caller ID +X on this outbound call" — phones send numbers without
/// the `+`, or with separators; it is the same number.
#[test]
fn a_requested_number_is_read_leniently() {
    let t = demo::table();
    for text in [
        "15550100101",
        "+1 (555) 010-0101",
        "1-555-010-0101",
        " +1.555.010.0101 ",
    ] {
        assert_eq!(
            cid(&t, "acme", "alice", Some(text), "5551234"),
            allow("+15550100101", Reason::NumberPermitted),
            "{text}"
        );
        assert_eq!(
            cid(&t, "acme", "frank", Some(text), "5551234"),
            substitute("+15550100000", Reason::NumberNotPermitted),
            "{text}"
        );
    }
    assert_eq!(
        cid(&t, "acme", "frank", Some("1 555 010 0102"), "5551234"),
        allow("+15550100102", Reason::NumberPermitted)
    );
}

/// "Unknown tenant, unknown user and suspended user are denials."
#[test]
fn an_unknown_tenant_an_unknown_user_and_a_suspended_user_are_denied() {
    let t = demo::table();
    assert_eq!(
        cid(&t, "nowhere", "alice", Some("+15550100000"), "5551234"),
        deny(Reason::UnknownTenant)
    );
    assert_eq!(
        cid(&t, "acme", "oscar", Some("+15550100000"), "5551234"),
        deny(Reason::UnknownUser)
    );
    assert_eq!(
        cid(&t, "acme", "mallory", None, "5551234"),
        deny(Reason::UserSuspended)
    );
}

/// "Every answer says at which revision it was decided."
#[test]
fn every_answer_carries_the_tables_revision() {
    let mut tenants = demo::tenants();
    let t = demo::table_of(&tenants);
    let revisions = |t: &Table| {
        let rec = Recording {
            extensions: &["101"],
            ..Recording::default()
        };
        vec![
            t.check_caller_id("acme", "alice", Some("+15550100000"), "5551234")
                .revision,
            t.check_caller_id("acme", "nobody", None, "911").revision,
            t.check_caller_id("nowhere", "x", None, "911").revision,
            t.check_caller_id("nowhere", "x", None, "5551234").revision,
            t.check_agent_pause("acme", "carol", "bob", "sales")
                .revision,
            t.check_agent_pause("nowhere", "carol", "bob", "sales")
                .revision,
            t.check_recording("acme", "alice", RecordingAction::Play, &rec)
                .revision,
            t.check_recording("acme", "mallory", RecordingAction::Play, &rec)
                .revision,
            t.check_feature_code("acme", "dave", "*46*600").revision,
            t.check_feature_code("acme", "dave", "*0000").revision,
            t.check_feature_code("nowhere", "dave", "911").revision,
            t.check_permission(
                "acme",
                "alice",
                Category::Billing,
                Action::View,
                &Resource::default(),
            )
            .revision,
            t.check_permission(
                "acme",
                "nobody",
                Category::Billing,
                Action::View,
                &Resource::default(),
            )
            .revision,
            t.explain("acme", "alice").unwrap().revision,
        ]
    };
    assert!(revisions(&t).iter().all(|&r| r == 1), "{:?}", revisions(&t));
    // A change to one tenant: every answer, about any tenant, is at the new revision.
    acme(&mut tenants).default_caller_id = Some("+15550100600".into());
    t.put(acme(&mut tenants), 7);
    assert_eq!(t.revision(), 7);
    assert!(revisions(&t).iter().all(|&r| r == 7), "{:?}", revisions(&t));
    assert_eq!(
        t.check_caller_id("globex", "oscar", None, "5551234")
            .revision,
        7
    );
}

// =================================================================== queue agent pause

/// "The agent must be an agent of the queue."
#[test]
fn the_agent_must_be_an_agent_of_the_queue() {
    let t = demo::table();
    // Whoever asks, even an admin or the queue's own supervisor.
    assert_eq!(
        v(t.check_agent_pause("acme", "alice", "ivan", "sales")),
        (DENIED, Reason::NotQueueMember)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "mallory", "sales")),
        (DENIED, Reason::NotQueueMember)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "ivan", "ivan", "sales")),
        (DENIED, Reason::NotQueueMember)
    );
    assert_eq!(
        pause_or_unpause(&t, "acme", "erin", "bob", "support", false),
        (DENIED, Reason::NotQueueMember)
    );
}

/// "An agent may pause and unpause itself."
#[test]
fn an_agent_may_pause_and_unpause_itself() {
    let t = demo::table();
    for paused in [true, false] {
        assert_eq!(
            pause_or_unpause(&t, "acme", "dave", "dave", "sales", paused),
            (ALLOWED, Reason::SelfPause)
        );
        assert_eq!(
            pause_or_unpause(&t, "acme", "dave", "dave", "support", paused),
            (ALLOWED, Reason::SelfPause)
        );
        // bob's role (non_admin) gives him nothing on queues; being an agent is enough.
        assert_eq!(
            pause_or_unpause(&t, "acme", "bob", "bob", "sales", paused),
            (ALLOWED, Reason::SelfPause)
        );
        assert_eq!(
            pause_or_unpause(&t, "initech", "milton", "milton", "tps", paused),
            (ALLOWED, Reason::SelfPause)
        );
    }
    // But not another agent of the same queue.
    assert_eq!(
        v(t.check_agent_pause("acme", "dave", "bob", "sales")),
        NOT_PERMITTED
    );
}

/// "Anyone else needs to supervise that queue"
#[test]
fn a_supervisor_may_pause_the_agents_of_the_queue() {
    let t = demo::table();
    for paused in [true, false] {
        for agent in ["bob", "dave"] {
            assert_eq!(
                pause_or_unpause(&t, "acme", "carol", agent, "sales", paused),
                (ALLOWED, Reason::QueueSupervisor)
            );
        }
        assert_eq!(
            pause_or_unpause(&t, "acme", "erin", "dave", "support", paused),
            (ALLOWED, Reason::QueueSupervisor)
        );
    }
    // Supervising one queue is nothing in another: carol's call_queues:edit is at assigned scope.
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "dave", "support")),
        OUT_OF_SCOPE
    );
}

/// "or to hold `call_queues:edit` with the queue in scope."
#[test]
fn call_queues_edit_with_the_queue_in_scope_may_pause_others() {
    let mut tenants = demo::tenants();
    // A depot queue erin does not supervise: her site scope reaches it.
    acme(&mut tenants).queues.push(Queue {
        id: "returns".into(),
        number: Some("650".into()),
        site: Some("depot".into()),
        agents: vec!["dave".into(), "bob".into()],
        supervisors: vec![],
    });
    let t = demo::table_of(&tenants);
    assert_eq!(
        v(t.check_agent_pause("acme", "judy", "bob", "sales")),
        PERMITTED,
        "office manager"
    );
    assert_eq!(
        pause_or_unpause(&t, "acme", "alice", "mallory", "support", false),
        PERMITTED,
        "tenant admin"
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "grace", "dave", "support")),
        PERMITTED,
        "custom role manager"
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "erin", "bob", "returns")),
        PERMITTED,
        "site manager, own site"
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "erin", "bob", "sales")),
        OUT_OF_SCOPE,
        "site manager, other site"
    );
    for actor in ["frank", "ivan", "kim", "rachel", "olivia"] {
        assert_eq!(
            v(t.check_agent_pause("acme", actor, "bob", "sales")),
            NOT_PERMITTED,
            "{actor}"
        );
    }
}

/// "Queue: `id`, optional `number`" — a queue may be named by its dial string.
#[test]
fn a_queue_may_be_named_by_its_number() {
    let t = demo::table();
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "bob", "600")),
        (ALLOWED, Reason::QueueSupervisor)
    );
    assert_eq!(
        pause_or_unpause(&t, "acme", "dave", "dave", "700", false),
        (ALLOWED, Reason::SelfPause)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "dave", "700")),
        OUT_OF_SCOPE
    );
    // Numbers are per tenant: 800 is initech's.
    assert_eq!(
        v(t.check_agent_pause("acme", "alice", "bob", "800")),
        (DENIED, Reason::UnknownQueue)
    );
}

/// "any missing or inconsistent input gives `deny` with a reason" / "Unknown tenant, unknown
/// user and suspended user are denials."
#[test]
fn pausing_with_unknown_or_suspended_parties_is_denied() {
    let t = demo::table();
    assert_eq!(
        v(t.check_agent_pause("nowhere", "carol", "bob", "sales")),
        (DENIED, Reason::UnknownTenant)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "bob", "marketing")),
        (DENIED, Reason::UnknownQueue)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "nobody", "bob", "sales")),
        (DENIED, Reason::UnknownUser)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "carol", "nobody", "sales")),
        (DENIED, Reason::UnknownAgent)
    );
    assert_eq!(
        v(t.check_agent_pause("acme", "mallory", "mallory", "support")),
        (DENIED, Reason::UserSuspended)
    );
    // The actor must be of the queue's tenant.
    assert_eq!(
        v(t.check_agent_pause("acme", "bill", "bob", "sales")),
        (DENIED, Reason::UnknownUser)
    );
}

// ======================================================================= recordings

const ALL_ACTIONS: [RecordingAction; 4] = [
    RecordingAction::List,
    RecordingAction::Play,
    RecordingAction::Download,
    RecordingAction::Delete,
];

fn on_ext<'a>(exts: &'a [&'a str]) -> Recording<'a> {
    Recording {
        extensions: exts,
        ..Recording::default()
    }
}

fn on_queue(q: &str) -> Recording<'_> {
    Recording {
        queue: Some(q),
        ..Recording::default()
    }
}

/// "list/play need `call_recordings:view`, download `call_recordings:download`, delete
/// `call_recordings:delete`"
#[test]
fn each_recording_action_needs_its_own_permission() {
    let mut tenants = demo::tenants();
    let a = acme(&mut tenants);
    for (id, action) in [
        ("viewer", "view"),
        ("downloader", "download"),
        ("deleter", "delete"),
    ] {
        a.roles.push(CustomRole {
            id: id.into(),
            permissions: [("call_recordings".to_string(), vec![action.to_string()])].into(),
            ..CustomRole::default()
        });
    }
    // Three tenant users (whose built-in role has no recording rights), one custom role each.
    for (user, role) in [
        ("frank", "viewer"),
        ("olivia", "downloader"),
        ("rachel", "deleter"),
    ] {
        a.users
            .iter_mut()
            .find(|u| u.id == user)
            .unwrap()
            .custom_role = Some(role.into());
    }
    let t = demo::table_of(&tenants);
    let r = on_ext(&["203"]);
    let expect = [
        ("frank", [ALLOWED, ALLOWED, DENIED, DENIED]),
        ("olivia", [DENIED, DENIED, ALLOWED, DENIED]),
        ("rachel", [DENIED, DENIED, DENIED, ALLOWED]),
    ];
    for (user, outcomes) in expect {
        for (action, outcome) in ALL_ACTIONS.into_iter().zip(outcomes) {
            let got = rec(&t, user, action, r);
            assert_eq!(got.0, outcome, "{user} {action:?}");
            if outcome == DENIED {
                assert_eq!(got.1, Reason::ActionNotPermitted, "{user} {action:?}");
            }
        }
    }
}

/// "tenant scope and `full_call_report_access` see all"
#[test]
fn tenant_scope_and_full_call_report_access_see_every_recording() {
    let t = demo::table();
    let recordings = [
        on_ext(&["203"]),
        on_queue("support"),
        Recording {
            numbers: &["+15550100201"],
            ..Recording::default()
        },
        Recording {
            site: Some("depot"),
            ..Recording::default()
        },
    ];
    for r in recordings {
        for action in ALL_ACTIONS {
            assert_eq!(
                rec(&t, "alice", action, r),
                PERMITTED,
                "alice {action:?} {r:?}"
            );
            assert_eq!(
                rec(&t, "judy", action, r),
                PERMITTED,
                "judy {action:?} {r:?}"
            );
        }
        // full_call_report_access is a view of everything: kim may list and play, not more.
        assert_eq!(rec(&t, "kim", RecordingAction::List, r), PERMITTED, "{r:?}");
        assert_eq!(rec(&t, "kim", RecordingAction::Play, r), PERMITTED, "{r:?}");
        assert_eq!(
            rec(&t, "kim", RecordingAction::Delete, r),
            NOT_PERMITTED,
            "{r:?}"
        );
        assert_eq!(
            rec(&t, "kim", RecordingAction::Download, r),
            NOT_PERMITTED,
            "{r:?}"
        );
    }
}

/// "site scope sees its site" — by where the recording was made, or by a party to the call.
#[test]
fn site_scope_sees_the_recordings_of_its_site() {
    let t = demo::table();
    let play = |r| rec(&t, "erin", RecordingAction::Play, r);
    assert_eq!(
        play(Recording {
            site: Some("depot"),
            ..Recording::default()
        }),
        PERMITTED
    );
    assert_eq!(play(on_ext(&["202"])), PERMITTED);
    assert_eq!(
        play(on_ext(&["101", "204"])),
        PERMITTED,
        "any party at the site"
    );
    assert_eq!(
        play(Recording {
            numbers: &["+15550100201"],
            ..Recording::default()
        }),
        PERMITTED
    );
    assert_eq!(play(on_queue("support")), PERMITTED);
    assert_eq!(
        play(Recording {
            site: Some("hq"),
            ..Recording::default()
        }),
        OUT_OF_SCOPE
    );
    assert_eq!(play(on_ext(&["101", "102"])), OUT_OF_SCOPE);
    assert_eq!(
        play(Recording {
            numbers: &["+15550100101"],
            ..Recording::default()
        }),
        OUT_OF_SCOPE
    );
    assert_eq!(play(on_queue("sales")), OUT_OF_SCOPE);
    assert_eq!(
        play(Recording::default()),
        (DENIED, Reason::UnknownRecording)
    );
    // A site manager has every action at their site.
    assert_eq!(
        rec(&t, "erin", RecordingAction::Delete, on_ext(&["202"])),
        PERMITTED
    );
}

/// "assigned scope sees recordings of granted or supervised queues, granted extensions or
/// granted numbers"
#[test]
fn assigned_scope_sees_granted_and_supervised_recordings() {
    let t = demo::table();
    // carol supervises sales.
    assert_eq!(
        rec(&t, "carol", RecordingAction::Play, on_queue("sales")),
        PERMITTED
    );
    assert_eq!(
        rec(&t, "carol", RecordingAction::Play, on_queue("600")),
        PERMITTED
    );
    assert_eq!(
        rec(&t, "carol", RecordingAction::Play, on_queue("support")),
        OUT_OF_SCOPE
    );
    assert_eq!(
        rec(&t, "carol", RecordingAction::Play, on_ext(&["101"])),
        OUT_OF_SCOPE
    );
    // bob is granted the sales queue, extension 102 and the main number.
    let bob = |r| rec(&t, "bob", RecordingAction::Play, r);
    assert_eq!(bob(on_queue("sales")), PERMITTED);
    assert_eq!(bob(on_ext(&["102"])), PERMITTED);
    assert_eq!(
        bob(Recording {
            numbers: &["+15550100000"],
            ..Recording::default()
        }),
        PERMITTED
    );
    assert_eq!(
        bob(Recording {
            numbers: &["15550100000"],
            ..Recording::default()
        }),
        PERMITTED
    );
    assert_eq!(bob(on_queue("support")), OUT_OF_SCOPE);
    assert_eq!(bob(on_ext(&["101"])), OUT_OF_SCOPE);
    assert_eq!(
        bob(Recording {
            numbers: &["+15550100101"],
            ..Recording::default()
        }),
        OUT_OF_SCOPE
    );
    assert_eq!(
        bob(Recording {
            site: Some("hq"),
            ..Recording::default()
        }),
        OUT_OF_SCOPE
    );
    // Grants are a view: bob may not delete what he may play.
    assert_eq!(
        rec(&t, "bob", RecordingAction::Delete, on_queue("sales")),
        NOT_PERMITTED
    );
}

/// "self scope sees the calls of its own extensions."
#[test]
fn self_scope_sees_the_calls_of_its_own_extensions() {
    let t = demo::table();
    let ivan = |action, r| rec(&t, "ivan", action, r);
    for action in [
        RecordingAction::List,
        RecordingAction::Play,
        RecordingAction::Download,
    ] {
        assert_eq!(ivan(action, on_ext(&["105"])), PERMITTED, "{action:?}");
        assert_eq!(
            ivan(action, on_ext(&["101", "105"])),
            PERMITTED,
            "{action:?}: a call he took part in"
        );
    }
    assert_eq!(
        ivan(RecordingAction::Delete, on_ext(&["105"])),
        NOT_PERMITTED
    );
    assert_eq!(ivan(RecordingAction::Play, on_ext(&["101"])), OUT_OF_SCOPE);
    assert_eq!(ivan(RecordingAction::Play, on_queue("sales")), OUT_OF_SCOPE);
    assert_eq!(
        ivan(
            RecordingAction::Play,
            Recording {
                site: Some("hq"),
                ..Recording::default()
            }
        ),
        OUT_OF_SCOPE
    );
    assert_eq!(
        ivan(RecordingAction::Play, Recording::default()),
        (DENIED, Reason::UnknownRecording)
    );
}

/// "Tenant: `id` (slug). Owns everything below. Nothing ever crosses tenants." — an
/// extension is named within its tenant only.
#[test]
fn extension_names_never_match_across_tenants() {
    let tenants = demo::parse(
        r#"
tenants:
  - id: a
    extensions: [{ext: "1", user: u}]
    users: [{id: u, role: basic_user}]
  - id: b
    extensions: [{ext: "1", user: v}, {ext: "2", user: u}]
    users: [{id: u, role: basic_user}, {id: v, role: basic_user}]
"#,
    );
    let t = demo::table_of(&tenants);
    let one = on_ext(&["1"]);
    assert_eq!(
        v(t.check_recording("a", "u", RecordingAction::Play, &one)),
        PERMITTED
    );
    assert_eq!(
        v(t.check_recording("b", "u", RecordingAction::Play, &one)),
        OUT_OF_SCOPE
    );
    assert_eq!(
        v(t.check_recording("b", "u", RecordingAction::Play, &on_ext(&["2"]))),
        PERMITTED
    );
    // In the demo: ivan's 105 means nothing in globex, and 10 nothing in acme.
    let d = demo::table();
    assert_eq!(
        v(d.check_recording("globex", "ivan", RecordingAction::Play, &on_ext(&["105"]))),
        (DENIED, Reason::UnknownUser)
    );
    assert_eq!(
        v(d.check_recording("acme", "ivan", RecordingAction::Play, &on_ext(&["10"]))),
        (DENIED, Reason::UnknownExtension)
    );
}

/// "Unknown tenant, unknown user and suspended user are denials."
#[test]
fn recordings_are_denied_to_unknown_and_suspended_actors() {
    let t = demo::table();
    let r = on_ext(&["204"]);
    assert_eq!(
        rec(&t, "mallory", RecordingAction::Play, r),
        (DENIED, Reason::UserSuspended)
    );
    assert_eq!(
        rec(&t, "nobody", RecordingAction::Play, r),
        (DENIED, Reason::UnknownUser)
    );
    assert_eq!(
        v(t.check_recording("nowhere", "alice", RecordingAction::Play, &r)),
        (DENIED, Reason::UnknownTenant)
    );
}

// ===================================================================== feature codes

/// "The longest code that prefixes the dialed string wins"
#[test]
fn the_longest_matching_code_wins() {
    let tenants = demo::parse(
        r#"
tenants:
  - id: t
    queues: [{id: q, number: "600", agents: [a]}]
    feature_codes: [{code: "*4", feature: park}]
    users: [{id: a, role: tenant_admin}]
"#,
    );
    let t = demo::table_of(&tenants);
    assert_eq!(
        fc(&t, "t", "a", "*46*600"),
        feature(FeatureKind::QueuePauseToggle, &["q"], Reason::SelfPause)
    );
    assert_eq!(
        fc(&t, "t", "a", "*45*600"),
        feature(FeatureKind::QueueLoginToggle, &["q"], Reason::QueueAgent)
    );
    assert_eq!(
        fc(&t, "t", "a", "*4"),
        feature(FeatureKind::Park, &[], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "t", "a", "*4#"),
        feature(FeatureKind::Park, &[], Reason::Permitted)
    );
    // `*49` is neither `*4` (no boundary) nor anything else.
    assert_eq!(
        fc(&t, "t", "a", "*49"),
        refused(None, Reason::UnknownFeatureCode)
    );
}

/// "its args follow, separated by `*`" / "*46*ext*queue | queue_pause_toggle | the pause
/// rule, agent = owner of ext"
#[test]
fn args_are_resolved_to_what_they_name() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "dave", "*46*600"),
        feature(FeatureKind::QueuePauseToggle, &["sales"], Reason::SelfPause)
    );
    assert_eq!(
        fc(&t, "acme", "dave", "*46*sales"),
        feature(FeatureKind::QueuePauseToggle, &["sales"], Reason::SelfPause)
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*46*201*600"),
        feature(
            FeatureKind::QueuePauseToggle,
            &["201", "sales"],
            Reason::QueueSupervisor
        )
    );
    // 202 is dave's: carol supervises him in sales, not in support.
    assert_eq!(
        fc(&t, "acme", "carol", "*46*202*700"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::OutOfScope)
    );
    // 101 is alice's, who is no agent of sales.
    assert_eq!(
        fc(&t, "acme", "carol", "*46*101*600"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::NotQueueMember)
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*46*999*600"),
        refused(
            Some(FeatureKind::QueuePauseToggle),
            Reason::UnknownExtension
        )
    );
    assert_eq!(
        fc(&t, "acme", "dave", "*46*601"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::UnknownQueue)
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*46*201*600*1"),
        refused(
            Some(FeatureKind::QueuePauseToggle),
            Reason::TooManyArguments
        )
    );
}

/// "(a code that ends in `*`, like `**`, takes its first arg at once)" / "**ext |
/// pickup_directed | pickup_groups:view with ext in scope"
#[test]
fn a_code_ending_in_star_takes_its_first_arg_at_once() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "alice", "**201"),
        feature(FeatureKind::PickupDirected, &["201"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "erin", "**202"),
        feature(FeatureKind::PickupDirected, &["202"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "erin", "**101"),
        refused(Some(FeatureKind::PickupDirected), Reason::OutOfScope)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "**101"),
        refused(
            Some(FeatureKind::PickupDirected),
            Reason::ActionNotPermitted
        )
    );
    assert_eq!(
        fc(&t, "acme", "alice", "**"),
        refused(Some(FeatureKind::PickupDirected), Reason::MissingArgument)
    );
    assert_eq!(
        fc(&t, "acme", "alice", "**999"),
        refused(Some(FeatureKind::PickupDirected), Reason::UnknownExtension)
    );
}

/// "The longest code that prefixes the dialed string wins; its args follow, separated by
/// `*`" — so a code followed by a digit is a different code.
#[test]
fn a_code_followed_by_a_digit_is_not_that_code() {
    let t = demo::table();
    for dialed in ["*461", "*4600", "*971", "*720"] {
        assert_eq!(
            fc(&t, "acme", "alice", dialed),
            refused(None, Reason::UnknownFeatureCode),
            "{dialed}"
        );
    }
}

/// "each naming a feature kind and, optionally, the roles allowed to use it"
#[test]
fn a_codes_role_allowlist_limits_who_may_dial_it() {
    let t = demo::table();
    // acme limits *46 to agents, supervisors, tenant admins and the custom role manager.
    assert_eq!(
        fc(&t, "acme", "frank", "*46*600"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::RoleNotAllowed)
    );
    assert_eq!(
        fc(&t, "acme", "bob", "*46*600"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::RoleNotAllowed)
    );
    assert_eq!(
        fc(&t, "acme", "judy", "*46*201*600"),
        refused(Some(FeatureKind::QueuePauseToggle), Reason::RoleNotAllowed)
    );
    // grace is a tenant user with the custom role manager.
    assert_eq!(
        fc(&t, "acme", "grace", "*46*201*600"),
        feature(
            FeatureKind::QueuePauseToggle,
            &["201", "sales"],
            Reason::Permitted
        )
    );
    assert_eq!(
        fc(&t, "acme", "alice", "*46*202*700"),
        feature(
            FeatureKind::QueuePauseToggle,
            &["202", "support"],
            Reason::Permitted
        )
    );
    // The same code in a tenant without the allowlist: bob is an agent of sales.
    let mut tenants = demo::tenants();
    acme(&mut tenants).feature_codes.retain(|f| f.code != "*46");
    let t = demo::table_of(&tenants);
    assert_eq!(
        fc(&t, "acme", "bob", "*46*600"),
        feature(FeatureKind::QueuePauseToggle, &["sales"], Reason::SelfPause)
    );
}

/// "the tenant's own entries override or extend [the defaults] code by code (`feature:
/// disabled` removes a default)"
#[test]
fn a_tenant_overrides_disables_and_extends_the_default_codes() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "alice", "*70"),
        refused(None, Reason::UnknownFeatureCode)
    );
    assert_eq!(
        fc(&t, "globex", "oscar", "*70"),
        feature(FeatureKind::Park, &[], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*99"),
        feature(FeatureKind::VoicemailOwn, &["105"], Reason::OwnExtension)
    );
    assert_eq!(
        fc(&t, "globex", "oscar", "*99"),
        refused(None, Reason::UnknownFeatureCode)
    );
}

/// "Unknown codes are denied (`unknown_feature_code`)."
#[test]
fn unknown_codes_are_denied() {
    let t = demo::table();
    for dialed in ["*00", "*", "*123*4", "#46", "5551234", "", "sip:*00@acme"] {
        assert_eq!(
            fc(&t, "acme", "alice", dialed),
            refused(None, Reason::UnknownFeatureCode),
            "{dialed:?}"
        );
    }
}

/// "*45[*queue] | queue_login_toggle | an agent of the queue (all its queues if none given)"
#[test]
fn queue_login_is_for_agents_of_the_queue() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "dave", "*45*600"),
        feature(
            FeatureKind::QueueLoginToggle,
            &["sales"],
            Reason::QueueAgent
        )
    );
    assert_eq!(
        fc(&t, "acme", "dave", "*45"),
        feature(FeatureKind::QueueLoginToggle, &[], Reason::QueueAgent)
    );
    assert_eq!(
        fc(&t, "acme", "bob", "*45*700"),
        refused(Some(FeatureKind::QueueLoginToggle), Reason::NotQueueMember)
    );
    // Rights over the queue are not membership of it.
    assert_eq!(
        fc(&t, "acme", "alice", "*45*600"),
        refused(Some(FeatureKind::QueueLoginToggle), Reason::NotQueueMember)
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*45"),
        refused(Some(FeatureKind::QueueLoginToggle), Reason::NotQueueMember)
    );
}

/// "*47*queue | queue_callers | an agent, or call_queues:view with the queue in scope"
#[test]
fn queue_callers_is_for_agents_or_call_queues_view_in_scope() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "dave", "*47*600"),
        feature(FeatureKind::QueueCallers, &["sales"], Reason::QueueAgent)
    );
    assert_eq!(
        fc(&t, "acme", "bob", "*47*600"),
        feature(FeatureKind::QueueCallers, &["sales"], Reason::QueueAgent)
    );
    assert_eq!(
        fc(&t, "acme", "rachel", "*47*700"),
        feature(FeatureKind::QueueCallers, &["support"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*47*600"),
        feature(FeatureKind::QueueCallers, &["sales"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "erin", "*47*600"),
        refused(Some(FeatureKind::QueueCallers), Reason::OutOfScope)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*47*600"),
        refused(Some(FeatureKind::QueueCallers), Reason::ActionNotPermitted)
    );
    assert_eq!(
        fc(&t, "acme", "dave", "*47"),
        refused(Some(FeatureKind::QueueCallers), Reason::MissingArgument)
    );
}

/// "*72*target / *73 | call_forward_on / call_forward_off | extensions:edit on the caller's
/// own extension"
#[test]
fn call_forwarding_needs_extensions_edit_on_the_callers_own_extension() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "ivan", "*72*5551234"),
        feature(
            FeatureKind::CallForwardOn,
            &["105", "5551234"],
            Reason::Permitted
        )
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*73"),
        feature(FeatureKind::CallForwardOff, &["105"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "frank", "*72*5551234"),
        refused(Some(FeatureKind::CallForwardOn), Reason::ActionNotPermitted)
    );
    assert_eq!(
        fc(&t, "acme", "frank", "*73"),
        refused(
            Some(FeatureKind::CallForwardOff),
            Reason::ActionNotPermitted
        )
    );
    assert_eq!(
        fc(&t, "acme", "carol", "*73"),
        refused(Some(FeatureKind::CallForwardOff), Reason::NoOwnExtension)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*72"),
        refused(Some(FeatureKind::CallForwardOn), Reason::MissingArgument)
    );
}

/// "*97 / *98[*ext] | voicemail_own / voicemail_box | own box; voicemail:view on that box's
/// extension"
#[test]
fn voicemail_codes_reach_the_own_box_or_a_box_in_scope() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "ivan", "*97"),
        feature(FeatureKind::VoicemailOwn, &["105"], Reason::OwnExtension)
    );
    assert_eq!(
        fc(&t, "acme", "frank", "*97"),
        feature(FeatureKind::VoicemailOwn, &["102"], Reason::OwnExtension)
    );
    assert_eq!(
        fc(&t, "acme", "olivia", "*97"),
        refused(Some(FeatureKind::VoicemailOwn), Reason::NoOwnExtension)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*98*105"),
        feature(FeatureKind::VoicemailBox, &["105"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "ivan", "*98*101"),
        refused(Some(FeatureKind::VoicemailBox), Reason::OutOfScope)
    );
    assert_eq!(
        fc(&t, "acme", "alice", "*98*204"),
        feature(FeatureKind::VoicemailBox, &["204"], Reason::Permitted)
    );
    assert_eq!(
        fc(&t, "acme", "rachel", "*98*201"),
        feature(FeatureKind::VoicemailBox, &["201"], Reason::Permitted)
    );
    // olivia's built-in role views her own voicemail only, and she has no extension.
    assert_eq!(
        fc(&t, "acme", "olivia", "*98*101"),
        refused(Some(FeatureKind::VoicemailBox), Reason::OutOfScope)
    );
    assert_eq!(
        fc(&t, "globex", "tess", "*98*10"),
        refused(Some(FeatureKind::VoicemailBox), Reason::ActionNotPermitted)
    );
    assert_eq!(
        fc(&t, "acme", "alice", "*98*999"),
        refused(Some(FeatureKind::VoicemailBox), Reason::UnknownExtension)
    );
}

/// "Unknown tenant, unknown user and suspended user are denials."
#[test]
fn feature_codes_are_denied_to_unknown_and_suspended_users() {
    let t = demo::table();
    assert_eq!(
        fc(&t, "acme", "mallory", "*45*700"),
        refused(None, Reason::UserSuspended)
    );
    assert_eq!(
        fc(&t, "acme", "nobody", "*97"),
        refused(None, Reason::UnknownUser)
    );
    assert_eq!(
        fc(&t, "nowhere", "alice", "*97"),
        refused(None, Reason::UnknownTenant)
    );
}

/// "`dialed` is one of the tenant's emergency numbers → never denied, whatever the user's
/// state" — not even when it arrives as a feature-code check.
#[test]
fn an_emergency_number_checked_as_a_feature_code_is_allowed() {
    let t = demo::table();
    for (tenant, user, dialed) in [
        ("acme", "mallory", "933"),
        ("acme", "nobody", "911"),
        ("acme", "alice", "112"),
        ("globex", "tess", "999"),
        ("nowhere", "x", "911"),
        ("nowhere", "x", "112"),
        // The platform's list is every tenant's, known or not.
        ("acme", "alice", "999"),
        ("nowhere", "x", "999"),
        ("nowhere", "x", "000"),
    ] {
        let (outcome, _, args, reason) = fc(&t, tenant, user, dialed);
        assert_eq!(
            (outcome, args.len(), reason),
            (ALLOWED, 0, Reason::EmergencyCall),
            "{tenant} {user} {dialed}"
        );
    }
    // 933 is acme's own: not globex's nor an unknown tenant's.
    assert_eq!(
        fc(&t, "globex", "tess", "933"),
        refused(None, Reason::UnknownFeatureCode)
    );
    assert_eq!(
        fc(&t, "nowhere", "x", "933"),
        refused(None, Reason::UnknownTenant)
    );
}

// ======================================================================== permission

/// "**Permission** `(tenant, user, category, action, resource{site, queue, extension,
/// number})` the general check" — with no resource it is a page-level question, which the
/// matrix alone answers.
#[test]
fn a_page_level_check_uses_the_matrix_only() {
    let t = demo::table();
    let page = Resource::default();
    // Self scope, and scope none: the page is theirs to open.
    assert_eq!(
        perm(&t, "frank", Category::Voicemail, Action::View, page),
        PERMITTED
    );
    assert_eq!(
        v(t.check_permission("globex", "tess", Category::AdminSetup, Action::Edit, &page)),
        PERMITTED
    );
    assert_eq!(
        perm(&t, "erin", Category::Settings, Action::Edit, page),
        PERMITTED
    );
    assert_eq!(
        perm(&t, "frank", Category::Settings, Action::View, page),
        NOT_PERMITTED
    );
    // Over a resource, the scope decides.
    assert_eq!(
        perm(
            &t,
            "frank",
            Category::Voicemail,
            Action::View,
            Resource {
                extension: Some("101"),
                ..page
            }
        ),
        OUT_OF_SCOPE
    );
    assert_eq!(
        v(t.check_permission(
            "globex",
            "tess",
            Category::AdminSetup,
            Action::Edit,
            &Resource {
                extension: Some("10"),
                ..page
            }
        )),
        OUT_OF_SCOPE
    );
}

/// "resource{site, queue, extension, number}" — every part named must be in scope.
#[test]
fn every_part_of_a_resource_must_be_in_scope() {
    let t = demo::table();
    let r = |site, queue, extension, number| Resource {
        site,
        queue,
        extension,
        number,
    };
    let erin = |res| perm(&t, "erin", Category::Extensions, Action::Edit, res);
    assert_eq!(erin(r(Some("depot"), None, Some("202"), None)), PERMITTED);
    assert_eq!(
        erin(r(
            Some("depot"),
            Some("support"),
            Some("202"),
            Some("+15550100201")
        )),
        PERMITTED
    );
    assert_eq!(
        erin(r(Some("depot"), Some("sales"), Some("202"), None)),
        OUT_OF_SCOPE
    );
    assert_eq!(
        erin(r(None, None, Some("202"), Some("+15550100101"))),
        OUT_OF_SCOPE
    );
    assert_eq!(erin(r(Some("hq"), None, Some("202"), None)), OUT_OF_SCOPE);
    // bob: granted queue sales and number ...000, but not extension 101.
    let bob = |res| perm(&t, "bob", Category::CallHistory, Action::View, res);
    assert_eq!(
        bob(r(None, Some("sales"), None, Some("+15550100000"))),
        PERMITTED
    );
    assert_eq!(
        bob(r(None, Some("sales"), Some("101"), Some("+15550100000"))),
        OUT_OF_SCOPE
    );
}

/// "Parts are resolved in the tenant's directory" — an extension's site is the directory's,
/// whatever site the request names beside it.
#[test]
fn an_extensions_site_comes_from_the_directory_not_the_request() {
    let t = demo::table();
    // 101 is at hq; saying "depot" beside it doesn't bring it into erin's site.
    let res = Resource {
        site: Some("depot"),
        extension: Some("101"),
        ..Resource::default()
    };
    assert_eq!(
        perm(&t, "erin", Category::Extensions, Action::Edit, res),
        OUT_OF_SCOPE
    );
    let res = Resource {
        site: Some("depot"),
        number: Some("+15550100101"),
        ..Resource::default()
    };
    assert_eq!(
        perm(&t, "erin", Category::PhoneNumbers, Action::Edit, res),
        OUT_OF_SCOPE
    );
    let res = Resource {
        site: Some("depot"),
        queue: Some("sales"),
        ..Resource::default()
    };
    assert_eq!(
        perm(&t, "erin", Category::CallQueues, Action::Edit, res),
        OUT_OF_SCOPE
    );
}

/// "any missing or inconsistent input gives `deny` with a reason" — and "every decision looks
/// its resource up in the tenant first: a resource the tenant does not have is denied with its
/// own reason code, whatever the role's scope" (deny by default: a portal with global ids must
/// not act across tenants on callgate's word).
#[test]
fn unknown_resources_are_denied_whatever_the_scope() {
    let t = demo::table();
    let unknown = [
        Resource {
            extension: Some("999"),
            ..Resource::default()
        },
        Resource {
            queue: Some("marketing"),
            ..Resource::default()
        },
        Resource {
            number: Some("+19995550000"),
            ..Resource::default()
        },
        Resource {
            number: Some("not a number"),
            ..Resource::default()
        },
        Resource {
            site: Some("annex"),
            ..Resource::default()
        },
        // Another tenant's.
        Resource {
            extension: Some("10"),
            ..Resource::default()
        },
        Resource {
            queue: Some("tps"),
            ..Resource::default()
        },
    ];
    for res in unknown {
        let reason = if res.site.is_some() {
            Reason::UnknownSite
        } else if res.queue.is_some() {
            Reason::UnknownQueue
        } else if res.extension.is_some() {
            Reason::UnknownExtension
        } else {
            Reason::UnknownNumber
        };
        // alice: tenant_admin; kim: full_call_report_access; carol's custom role,
        // receptionist, views call history tenant-wide; the others have narrower scopes.
        for user in [
            "alice", "kim", "carol", "erin", "bob", "ivan", "frank", "dave",
        ] {
            assert_eq!(
                perm(&t, user, Category::CallHistory, Action::View, res),
                (DENIED, reason),
                "{user} {res:?}"
            );
        }
    }
    // Known resources of the tenant are still within tenant scope.
    let known = Resource {
        extension: Some("203"),
        queue: Some("support"),
        ..Resource::default()
    };
    for user in ["alice", "kim", "carol"] {
        assert_eq!(
            perm(&t, user, Category::CallHistory, Action::View, known),
            PERMITTED,
            "{user}"
        );
    }
}

/// "Unknown tenant, unknown user and suspended user are denials."
#[test]
fn permission_is_denied_to_unknown_and_suspended_users() {
    let t = demo::table();
    let page = Resource::default();
    assert_eq!(
        perm(&t, "mallory", Category::Contacts, Action::View, page),
        (DENIED, Reason::UserSuspended)
    );
    assert_eq!(
        perm(&t, "oscar", Category::Contacts, Action::View, page),
        (DENIED, Reason::UnknownUser)
    );
    let unknown =
        v(t.check_permission("nowhere", "alice", Category::Contacts, Action::View, &page));
    assert_eq!(unknown, (DENIED, Reason::UnknownTenant));
}

// =========================================================================== explain

/// "Every number within the role's scope where the role grants `phone_numbers:edit`" — a
/// tenant admin's caller IDs are every number of the tenant.
#[test]
fn explain_lists_every_number_as_a_tenant_admins_caller_ids() {
    let t = demo::table();
    let e = t.explain("acme", "alice").unwrap();
    assert_eq!(e.caller_ids, ACME_NUMBERS);
    assert_eq!(e.default_caller_id.as_deref(), Some("+15550100000"));
    assert!(e.role.admin);
}

/// "the numbers in grants, and the numbers routed to the user's own extensions"
#[test]
fn explain_lists_granted_numbers_and_own_dids_as_caller_ids() {
    let t = demo::table();
    assert_eq!(
        t.explain("acme", "bob").unwrap().caller_ids,
        ["+15550100000", "+15550100201"]
    );
    assert_eq!(
        t.explain("acme", "frank").unwrap().caller_ids,
        ["+15550100102"]
    );
    assert_eq!(
        t.explain("acme", "erin").unwrap().caller_ids,
        ["+15550100200", "+15550100201"]
    );
    assert!(
        t.explain("initech", "milton")
            .unwrap()
            .caller_ids
            .is_empty()
    );
    // Each one is what the caller-ID check allows, and nothing else is.
    for user in ["alice", "bob", "erin", "frank", "ivan", "kim"] {
        let allowed = t.explain("acme", user).unwrap().caller_ids;
        for n in ACME_NUMBERS {
            let outcome = t.check_caller_id("acme", user, Some(n), "5551234").outcome;
            assert_eq!(
                outcome == Outcome::Allow,
                allowed.iter().any(|a| a == n),
                "{user} {n}"
            );
        }
    }
}

/// "Anyone else needs to supervise that queue" — carol supervises sales and its agents.
#[test]
fn explain_lists_the_queues_and_agents_a_supervisor_may_pause() {
    let t = demo::table();
    let e = t.explain("acme", "carol").unwrap();
    assert_eq!(e.pausable_queues.len(), 1, "{:?}", e.pausable_queues);
    assert_eq!(e.pausable_queues["sales"], ["bob", "dave"]);
    // An agent may pause itself, which the list leaves out: dave may pause no one else.
    assert!(
        t.explain("acme", "dave")
            .unwrap()
            .pausable_queues
            .is_empty()
    );
}

/// "Example 2: A Non-Admin is not granted any call report permissions. They will not see:
/// [...] Call recordings"
#[test]
fn explain_shows_no_recordings_for_a_non_admin_without_report_permissions() {
    let t = demo::table();
    let r = t.explain("initech", "milton").unwrap().recordings;
    assert!(!r.all);
    assert_eq!(r.site, None);
    assert!(
        r.queues.is_empty() && r.extensions.is_empty() && r.numbers.is_empty(),
        "{r:?}"
    );
}

/// "site scope sees its site"
#[test]
fn explain_shows_a_site_managers_recordings_as_their_site() {
    let t = demo::table();
    let r = t.explain("acme", "erin").unwrap().recordings;
    assert!(!r.all);
    assert_eq!(r.site.as_deref(), Some("depot"));
    assert!(t.explain("acme", "kim").unwrap().recordings.all);
    let bob = t.explain("acme", "bob").unwrap().recordings;
    assert_eq!(
        (bob.queues, bob.extensions, bob.numbers),
        (
            vec!["sales".into()],
            vec!["102".into()],
            vec!["+15550100000".into()]
        )
    );
    assert!(t.explain("acme", "nobody").is_none());
    assert!(t.explain("nowhere", "alice").is_none());
}

/// ATIS-1000074 §5.2.3, one row of `src/attest.rs`'s table each: "Full Attestation (A): The
/// signing provider shall satisfy all of the following conditions: Is responsible for the
/// origination of the call onto the IP-based service provider voice network. Has a direct
/// authenticated relationship with the customer and can identify the customer. Has
/// established a verified association with the telephone number used for the call."
/// "Partial Attestation (B): ... has authenticated the call origination, but cannot verify the
/// call source is authorized to use the calling number." "Gateway Attestation (C)" otherwise.
#[test]
fn every_caller_id_answer_carries_its_attestation() {
    use callgate::attest::{Basis, Level};
    let t = demo::table();
    let attest = |user: &str, requested: Option<&str>, dialed: &str, authenticated: bool| {
        let a = t.check_caller_id_attested("acme", user, requested, dialed, authenticated);
        // The attested answer is the plain answer plus its attestation.
        let plain = t.check_caller_id("acme", user, requested, dialed);
        assert_eq!(
            callgate::CallerIdAnswer {
                attestation: None,
                ..a
            },
            plain
        );
        a.attestation.map(|x| (x.level, x.reason))
    };
    let a = Some((Level::A, Basis::UserMayPresent));
    let b = Some((Level::B, Basis::NumberNotTiedToUser));
    let c = Some((Level::C, Basis::CallerNotAuthenticated));
    // A: the authenticated caller presents a number they may present…
    assert_eq!(attest("alice", Some("+15550100101"), "5551234", true), a);
    assert_eq!(attest("bob", Some("+15550100000"), "5551234", true), a);
    // …or, asking for nothing, gets the default caller ID the admin gave them.
    assert_eq!(attest("ivan", None, "5551234", true), a);
    // B: the tenant's default substituted for users who may not present it.
    assert_eq!(attest("dave", None, "5551234", true), b);
    assert_eq!(attest("carol", Some("+15550100101"), "5551234", true), b);
    // C: nobody vouched for the caller, whatever the number.
    assert_eq!(attest("alice", Some("+15550100101"), "5551234", false), c);
    assert_eq!(attest("dave", None, "5551234", false), c);
    // None: a denied call presents nothing to attest.
    assert_eq!(
        attest("mallory", Some("+15550100200"), "5551234", true),
        None
    );
    assert_eq!(
        attest("nobody", Some("+15550100101"), "5551234", true),
        None
    );
    // Emergency calls: the caller's own permitted number is A; the callback number of a
    // suspended caller is B (not tied to someone who may not call out otherwise).
    assert_eq!(attest("alice", Some("+15550100101"), "911", true), a);
    assert_eq!(attest("mallory", None, "911", true), b);
    assert_eq!(attest("mallory", None, "911", false), c);
    // An emergency call with no number anywhere (unknown tenant) has nothing to attest.
    let unknown = t.check_caller_id_attested("nowhere", "x", None, "911", true);
    assert_eq!(
        (unknown.outcome, unknown.attestation),
        (Outcome::Allow, None)
    );
}

/// A permission matrix reads as what it allows (its `Debug`, which logs and test failures
/// show): every allowed (category, action), nothing else — checked against `allows`.
#[test]
fn a_matrix_lists_exactly_what_it_allows() {
    use callgate::catalog::{Action, Category, RoleId};
    for name in [
        "basic_user",
        "call_center_agent",
        "site_manager",
        "tenant_admin",
    ] {
        let m = RoleId::by_name(name).unwrap().get().matrix;
        let rows: Vec<(Category, Vec<Action>)> = m.rows().collect();
        for &c in Category::ALL {
            let listed = rows.iter().find(|(rc, _)| *rc == c).map(|(_, a)| a.clone());
            let allowed: Vec<Action> = Action::ALL
                .iter()
                .copied()
                .filter(|&a| m.allows(c, a))
                .collect();
            match listed {
                Some(actions) => assert!(!actions.is_empty() && actions == allowed, "{name} {c:?}"),
                None => assert!(allowed.is_empty(), "{name} {c:?}: {allowed:?} not listed"),
            }
        }
        let shown = format!("{m:?}");
        assert_eq!(shown.matches('[').count(), rows.len(), "{name}: {shown}");
    }
}

/// `explain` calls a role an administrator exactly when it is one: everything, tenant-wide
/// (DESIGN.md: an administrator's built-in role "can't be narrowed"). Checked for every user
/// of the demo directory against the catalog's matrix, cell by cell.
#[test]
fn explain_calls_a_role_an_administrator_exactly_when_it_holds_everything_tenant_wide() {
    use callgate::catalog::BUILTIN_ROLES;
    let t = demo::table();
    let mut seen = [false; 2];
    for tenant in demo::tenants() {
        for u in &tenant.users {
            let e = t.explain(&tenant.id, &u.id).unwrap();
            let role = BUILTIN_ROLES
                .iter()
                .find(|r| r.name == e.role.name)
                .unwrap();
            let everything = Category::ALL
                .iter()
                .all(|&c| Action::ALL.iter().all(|&a| role.matrix.allows(c, a)));
            let admin = everything && role.scope == callgate::Scope::Tenant;
            assert_eq!(e.role.admin, admin, "{}'s role {}", u.id, e.role.name);
            seen[usize::from(admin)] = true;
        }
    }
    assert_eq!(seen, [true, true], "the demo has administrators and others");
}

// ------------------------------------------------------------- principal by extension

/// DESIGN.md, the SIP interface: "user = the `X-Callgate-User` header set by the proxy after
/// it authenticated the caller, else the owner of the From user's extension". A check by
/// extension is the check by its owner, answer for answer; an extension the tenant doesn't
/// have is nobody's, and nobody is an unknown user (emergency calls aside).
#[test]
fn a_check_by_extension_is_the_check_by_its_owner() {
    use callgate::Principal;
    use std::borrow::Cow;
    let tenants = demo::tenants();
    let t = demo::table_of(&tenants);
    let mut asked = 0;
    for tenant in &tenants {
        for e in &tenant.extensions {
            let Some(owner) = e.user.as_deref() else {
                continue;
            };
            let by_ext = || Principal::Extension(Cow::Borrowed(e.ext.as_str()));
            for n in &tenant.numbers {
                let requested = Some(n.number.as_str());
                assert_eq!(
                    t.check_caller_id(&tenant.id, by_ext(), requested, "15551234567"),
                    t.check_caller_id(&tenant.id, owner, requested, "15551234567"),
                    "{} asking by extension {} for {}",
                    owner,
                    e.ext,
                    n.number
                );
                asked += 1;
            }
            for code in ["*72", "*97", "*46"] {
                assert_eq!(
                    t.check_feature_code(&tenant.id, by_ext(), code),
                    t.check_feature_code(&tenant.id, owner, code),
                    "{owner} dialling {code} from extension {}",
                    e.ext
                );
            }
        }
    }
    assert!(
        asked >= 20,
        "the demo directory has owned extensions and numbers"
    );
    for tenant in &tenants {
        let nobody = Principal::Extension(Cow::Borrowed("99999"));
        let a = t.check_caller_id(&tenant.id, nobody, None, "15551234567");
        assert_eq!((a.outcome, a.reason), (DENIED, Reason::UnknownUser));
    }
}

/// Ids of any length are ids: a tenant's and its users' ids longer than the 23 bytes a
/// compiled entry keeps inline, one beside the boundary, and a user whose sets (two
/// extensions, two queues, three granted numbers) are too many to keep in the entry, are
/// found and decided like any other; an id that shares the first 23 bytes of one is not it.
#[test]
fn long_ids_and_many_grants_decide_like_short_ones() {
    let tenants = demo::parse(
        r#"
tenants:
  - id: a-tenant-whose-id-is-longer-than-an-inline-one
    default_caller_id: "+15550000001"
    numbers:
      - {number: "+15550000001"}
      - {number: "+15550000002"}
      - {number: "+15550000003"}
      - {number: "+15550000004"}
      - {number: "+15550000005"}
    extensions:
      - {ext: "1", user: a-user-whose-id-is-longer-than-23-bytes}
      - {ext: "2", user: a-user-whose-id-is-longer-than-23-bytes}
      - {ext: "3", user: exactly-twenty-three-by}
    queues:
      - {id: first, agents: [a-user-whose-id-is-longer-than-23-bytes], supervisors: [exactly-twenty-three-by]}
      - {id: second, agents: [a-user-whose-id-is-longer-than-23-bytes, exactly-twenty-four-byte]}
    users:
      - id: a-user-whose-id-is-longer-than-23-bytes
        role: non_admin
        extensions: ["1", "2"]
        grants: {numbers: ["+15550000002", "+15550000003", "+15550000004"]}
      - {id: exactly-twenty-three-by, role: call_center_supervisor, extensions: ["3"]}
      - {id: exactly-twenty-four-byte, role: call_center_agent}
"#,
    );
    let t = demo::table_of(&tenants);
    let tenant = "a-tenant-whose-id-is-longer-than-an-inline-one";
    let long = "a-user-whose-id-is-longer-than-23-bytes";
    for granted in ["+15550000002", "+15550000003", "+15550000004"] {
        assert_eq!(
            cid(&t, tenant, long, Some(granted), "15551234567"),
            allow(granted, Reason::NumberPermitted)
        );
    }
    assert_eq!(
        cid(&t, tenant, long, Some("+15550000005"), "15551234567"),
        substitute("+15550000001", Reason::NumberNotPermitted)
    );
    assert_eq!(
        cid(
            &t,
            tenant,
            "a-user-whose-id-is-longer-than-23-byteS",
            None,
            "15551234567"
        ),
        deny(Reason::UnknownUser)
    );
    assert_eq!(
        cid(
            &t,
            "a-tenant-whose-id-is-longer-than-an-inline-on",
            long,
            None,
            "15551234567"
        )
        .2,
        Reason::UnknownTenant
    );
    let supervisor = "exactly-twenty-three-by";
    assert_eq!(supervisor.len(), 23);
    assert_eq!(
        pause_or_unpause(&t, tenant, supervisor, long, "first", true).0,
        Outcome::Allow
    );
    // Not the supervisor of `second`, whatever the agent's id.
    assert_eq!(
        pause_or_unpause(
            &t,
            tenant,
            supervisor,
            "exactly-twenty-four-byte",
            "second",
            true
        )
        .0,
        Outcome::Deny
    );
    assert_eq!(
        pause_or_unpause(&t, tenant, "exactly-twenty-three-byt", long, "first", true).1,
        Reason::UnknownUser
    );
}
