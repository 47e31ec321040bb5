//! The directory format (DESIGN.md, "The directory format"): what it accepts, how it refuses,
//! and that reading, writing and editing a directory keep it meaning the same thing.

#[path = "support/demo.rs"]
#[expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a broken test fixture fails the test loudly"
)]
mod demo;

use callgate::model::{Directory, Extension};
use callgate::{DirectoryError, Outcome, Problem, Reason, Tenant, directory};

/// The DESIGN.md example, verbatim.
const DESIGN_EXAMPLE: &str = r#"
tenants:
  - id: acme
    default_caller_id: "+15550100000"
    emergency_numbers: ["911", "933"]
    sites: [{id: hq}, {id: depot}]
    numbers:
      - {number: "+15550100000", site: hq}
      - {number: "+15550100101", site: hq, extension: "101"}
      - {number: "+15550100200", site: depot, emergency_callback: true}
    extensions:
      - {ext: "101", site: hq, user: alice}
      - {ext: "201", site: depot, user: bob}
    queues:
      - {id: sales, number: "600", site: hq, agents: [bob], supervisors: [carol]}
    roles:
      - id: receptionist
        description: Front desk
        permissions: {extensions: [view], voicemail: [view, create, edit], media: [view, create, edit]}
    feature_codes:
      - {code: "*46", feature: queue_pause_toggle, roles: [call_center_agent, call_center_supervisor]}
    users:
      - {id: alice, role: tenant_admin, site: hq, extensions: ["101"]}
      - id: bob
        role: non_admin
        extensions: ["201"]
        grants: {numbers: ["+15550100000"], queues: [sales], full_call_report_access: false}
      - {id: carol, role: call_center_supervisor, custom_role: receptionist}
"#;

/// The problems of a file that must be refused (none if it was accepted).
fn problems(text: &str) -> Vec<Problem> {
    directory::parse(text)
        .err()
        .map(|e| e.problems())
        .unwrap_or_default()
}

/// The problems as `path: message` lines.
fn lines(text: &str) -> Vec<String> {
    problems(text).iter().map(ToString::to_string).collect()
}

// ------------------------------------------------------------------------- accepted

/// "The directory format (YAML or JSON, one or more tenants)" — the example as written.
#[test]
fn the_design_example_parses() {
    let tenants = demo::parse(DESIGN_EXAMPLE);
    assert_eq!(tenants.len(), 1);
    let acme = &tenants[0];
    assert_eq!(acme.id, "acme");
    assert_eq!(acme.numbers.len(), 3);
    assert_eq!(
        acme.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    let carol = acme.users.iter().find(|u| u.id == "carol").unwrap();
    assert_eq!(carol.custom_role.as_deref(), Some("receptionist"));
    // And it means what it says.
    let t = demo::table_of(&tenants);
    let a = t.check_caller_id("acme", "bob", Some("+15550100000"), "5551234");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Allow, Reason::NumberPermitted)
    );
    assert_eq!(
        t.check_agent_pause("acme", "carol", "bob", "600").reason,
        Reason::QueueSupervisor
    );
}

/// "The directory format (YAML or JSON, one or more tenants)" — the same directory as JSON.
#[test]
fn the_json_form_parses_to_the_same_tenants() {
    let json = r#"{"tenants": [{
        "id": "acme",
        "default_caller_id": "+15550100000",
        "emergency_numbers": ["911", "933"],
        "sites": [{"id": "hq"}, {"id": "depot"}],
        "numbers": [
            {"number": "+15550100000", "site": "hq"},
            {"number": "+15550100101", "site": "hq", "extension": "101"},
            {"number": "+15550100200", "site": "depot", "emergency_callback": true}
        ],
        "extensions": [{"ext": "101", "site": "hq", "user": "alice"}, {"ext": "201", "site": "depot", "user": "bob"}],
        "queues": [{"id": "sales", "number": "600", "site": "hq", "agents": ["bob"], "supervisors": ["carol"]}],
        "roles": [{"id": "receptionist", "description": "Front desk",
                   "permissions": {"extensions": ["view"], "voicemail": ["view", "create", "edit"],
                                   "media": ["view", "create", "edit"]}}],
        "feature_codes": [{"code": "*46", "feature": "queue_pause_toggle",
                           "roles": ["call_center_agent", "call_center_supervisor"]}],
        "users": [
            {"id": "alice", "role": "tenant_admin", "site": "hq", "extensions": ["101"]},
            {"id": "bob", "role": "non_admin", "extensions": ["201"],
             "grants": {"numbers": ["+15550100000"], "queues": ["sales"], "full_call_report_access": false}},
            {"id": "carol", "role": "call_center_supervisor", "custom_role": "receptionist"}
        ]
    }]}"#;
    assert_eq!(demo::parse(json), demo::parse(DESIGN_EXAMPLE));
}

/// "one or more tenants" — the demo file holds three, each kept whole.
#[test]
fn a_file_may_hold_several_tenants() {
    let tenants = demo::tenants();
    assert_eq!(
        tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["acme", "globex", "initech"]
    );
    assert_eq!(demo::parse("tenants: []"), Vec::<Tenant>::new());
}

// ------------------------------------------------------------------------- refused

/// "Bad input (unknown role, [...]) is refused whole, with every problem listed with its
/// path (`tenants[0].users[2].role: unknown role "superuser"`)." (CONVENTIONS.md puts the
/// input in backticks.)
#[test]
fn an_unknown_role_is_reported_at_its_path_in_the_documented_words() {
    let text = "tenants:\n  - id: acme\n    users:\n      - {id: a, role: basic_user}\n      - {id: b, role: basic_user}\n      \
                - {id: c, role: superuser}\n";
    assert_eq!(
        lines(text),
        ["tenants[0].users[2].role: unknown role `superuser`"]
    );
    let Err(e) = directory::parse(text) else {
        panic!("accepted")
    };
    assert!(matches!(e, DirectoryError::Invalid(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "1 problem(s): tenants[0].users[2].role: unknown role `superuser`"
    );
}

/// "Bad input (unknown role, a number that isn't E.164, an extension owned by an unknown
/// user, duplicate ids, …) is refused whole, with every problem listed with its path"
/// — all at once, in the order the file lists them.
#[test]
fn every_problem_is_listed_at_once_in_file_order_each_with_its_path() {
    let text = r#"
tenants:
  - id: acme
    default_caller_id: "+15559999999"
    sites: [{id: hq}]
    numbers:
      - {number: "+15550100000", site: hq}
      - {number: "5550100001"}
      - {number: "+15550100002", site: annex}
    extensions:
      - {ext: "101", site: hq, user: alice}
      - {ext: "102", user: zed}
    queues:
      - {id: sales, agents: [alice]}
    roles:
      - id: admin
        permissions: {billing: [view]}
      - id: helper
        permissions: {telepathy: [view], voicemail: [listen]}
    feature_codes:
      - {code: "46", feature: park}
      - {code: "*88", feature: teleport}
    users:
      - {id: alice, role: tenant_admin, site: hq}
      - {id: bob, role: basic_user, custom_role: ghost}
      - {id: alice, role: basic_user}
      - {id: carol, role: basic_user, grants: {queues: [support]}}
      - {id: dave, role: basic_user, status: retired}
  - id: acme
"#;
    let got = problems(text);
    let paths: Vec<&str> = got.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tenants[0].default_caller_id",
            "tenants[0].numbers[1].number",
            "tenants[0].numbers[2].site",
            "tenants[0].extensions[1].user",
            "tenants[0].roles[0].id",
            "tenants[0].roles[1].permissions.telepathy",
            "tenants[0].roles[1].permissions.voicemail[0]",
            "tenants[0].feature_codes[0].code",
            "tenants[0].feature_codes[1].feature",
            "tenants[0].users[1].custom_role",
            "tenants[0].users[2].id",
            "tenants[0].users[3].grants.queues[0]",
            "tenants[0].users[4].status",
            "tenants[1].id",
        ],
        "{got:#?}"
    );
    let text_of = |path: &str| {
        got.iter()
            .find(|p| p.path == path)
            .map(|p| p.message.as_str())
            .unwrap()
    };
    assert_eq!(
        text_of("tenants[0].default_caller_id"),
        "number `+15559999999` is not one of the tenant's numbers"
    );
    assert!(
        text_of("tenants[0].numbers[1].number").starts_with("`5550100001` is not an E.164 number")
    );
    assert_eq!(
        text_of("tenants[0].numbers[2].site"),
        "unknown site `annex`"
    );
    assert_eq!(
        text_of("tenants[0].extensions[1].user"),
        "unknown user `zed`"
    );
    assert_eq!(
        text_of("tenants[0].roles[0].id"),
        "`admin` is a built-in role's name"
    );
    assert_eq!(
        text_of("tenants[0].roles[1].permissions.telepathy"),
        "unknown category `telepathy`"
    );
    assert!(
        text_of("tenants[0].roles[1].permissions.voicemail[0]")
            .starts_with("unknown action `listen`")
    );
    assert!(text_of("tenants[0].feature_codes[0].code").starts_with("invalid feature code `46`"));
    assert_eq!(
        text_of("tenants[0].feature_codes[1].feature"),
        "unknown feature `teleport`"
    );
    assert_eq!(
        text_of("tenants[0].users[1].custom_role"),
        "unknown custom role `ghost`"
    );
    assert_eq!(text_of("tenants[0].users[2].id"), "duplicate user `alice`");
    assert_eq!(
        text_of("tenants[0].users[3].grants.queues[0]"),
        "unknown queue `support`"
    );
    assert!(text_of("tenants[0].users[4].status").starts_with("unknown status `retired`"));
    assert_eq!(text_of("tenants[1].id"), "duplicate tenant `acme`");
    // Messages are lowercase, with no final period.
    for p in &got {
        assert!(!p.message.ends_with('.'), "{p}");
        assert!(
            !p.message.starts_with(|c: char| c.is_ascii_uppercase()),
            "{p}"
        );
    }
}

/// "Bad input [...] is refused whole" — one bad tenant refuses the good ones beside it.
#[test]
fn one_bad_tenant_refuses_the_whole_file() {
    let text = "tenants:\n  - {id: good, users: [{id: a, role: basic_user}]}\n  - {id: bad, users: [{id: b, role: nobody}]}\n";
    assert_eq!(
        lines(text),
        ["tenants[1].users[0].role: unknown role `nobody`"]
    );
}

/// "Bad input [...] is refused whole, with every problem listed with its path" — a file
/// that isn't YAML at all.
#[test]
fn a_syntax_error_is_refused_with_where_it_is() {
    let e = directory::parse("tenants:\n  - id: acme\n    users: [{id: a, role: basic_user}\n")
        .unwrap_err();
    let DirectoryError::Syntax(p) = &e else {
        panic!("{e:?}")
    };
    assert!(p.to_string().contains("line"), "{p}");
    let e = directory::parse(r#"{"tenants": [{"id": "acme", "users": [{"id": "a", "role": }]}]}"#)
        .unwrap_err();
    let DirectoryError::Syntax(p) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(p.path, "tenants[0].users[0].role", "{p}");
    assert!(p.message.contains("line"), "{p}");
}

/// "Bad input [...] is refused whole, with every problem listed with its path" — a field
/// the format doesn't have is a mistake, not something to ignore.
#[test]
fn an_unknown_field_is_refused_with_its_path() {
    let e = directory::parse(
        "tenants:\n  - id: acme\n    users:\n      - {id: a, role: basic_user, rol: admin}\n",
    )
    .unwrap_err();
    let DirectoryError::Syntax(p) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(p.path, "tenants[0].users[0].rol", "{p}");
    // The path is said once, then what is wrong and where.
    assert!(
        p.message
            .starts_with("unknown field `rol`, expected one of `id`, `role`"),
        "{p}"
    );
    assert!(p.message.ends_with("at line 4 column 35"), "{p}");

    let e = directory::parse(r#"{"tenants": [{"id": "acme", "grants": {}}]}"#).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("tenants[0].grants: unknown field `grants`"),
        "{e}"
    );

    let e = directory::parse(
        "tenants: [{id: acme, users: [{id: a, role: basic_user, grants: {everything: true}}]}]",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("tenants[0].users[0].grants.everything: unknown field `everything`"),
        "{e}"
    );

    // A field of the wrong shape, too.
    let e = directory::parse("tenants:\n  - id: acme\n    users: {id: a}\n").unwrap_err();
    assert!(e.to_string().starts_with("tenants[0].users: "), "{e}");
}

/// "an extension owned by an unknown user, duplicate ids" — an extension has one owner,
/// whichever side of the file says so.
#[test]
fn ownership_conflicts_are_refused() {
    // Declared for one user, claimed by another.
    let text = "tenants: [{id: t, extensions: [{ext: '1', user: a}], \
                users: [{id: a, role: basic_user}, {id: b, role: basic_user, extensions: ['1']}]}]";
    assert_eq!(
        lines(text),
        ["tenants[0].users[1].extensions[0]: extension `1` belongs to user `a`"]
    );
    // Claimed by two users, declared by neither.
    let text = "tenants: [{id: t, \
                users: [{id: a, role: basic_user, extensions: ['1']}, {id: b, role: basic_user, extensions: ['1']}]}]";
    assert_eq!(
        lines(text),
        ["tenants[0].users[1].extensions[0]: extension `1` is also claimed by user `a`"]
    );
    // Declared twice.
    let text = "tenants:\n  - id: t\n    extensions: [{ext: '1'}, {ext: '1'}]\n";
    assert_eq!(
        lines(text),
        ["tenants[0].extensions[1].ext: duplicate extension `1`"]
    );
    // Both sides agreeing is not a conflict.
    let text = "tenants: [{id: t, extensions: [{ext: '1', user: a}], users: [{id: a, role: basic_user, extensions: ['1']}]}]";
    assert_eq!(demo::parse(text)[0].extensions.len(), 1);
}

/// "Bad input (unknown role, a number that isn't E.164, [...], duplicate ids, …)": the
/// other references a file can get wrong.
#[test]
fn dangling_references_and_duplicates_are_refused() {
    let text = r#"
tenants:
  - id: Acme Corp
    emergency_numbers: ["9-1-1"]
    numbers:
      - {number: "+15550100000"}
      - {number: "+1 555 010 0000"}
      - {number: "+15550100000"}
      - {number: "+15550100001", extension: "999"}
    queues:
      - {id: q, number: "600", agents: [nobody], supervisors: [ghost]}
      - {id: r, number: "600"}
    roles:
      - {id: r1, scope: galaxy}
    feature_codes:
      - {code: "*50", feature: park, roles: [wizard]}
      - {code: "*50", feature: park}
    users:
      - id: u
        role: basic_user
        default_caller_id: "+15550100009"
        grants: {extensions: ["404"], numbers: ["+1555"], features: [teleport]}
"#;
    let paths: Vec<String> = problems(text).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "tenants[0].id",
            "tenants[0].emergency_numbers[0]",
            "tenants[0].numbers[1].number",
            "tenants[0].numbers[2].number",
            "tenants[0].numbers[3].extension",
            "tenants[0].queues[0].agents[0]",
            "tenants[0].queues[0].supervisors[0]",
            "tenants[0].queues[1].number",
            "tenants[0].roles[0].scope",
            "tenants[0].feature_codes[0].roles[0]",
            "tenants[0].feature_codes[1].code",
            "tenants[0].users[0].grants.extensions[0]",
            "tenants[0].users[0].grants.numbers[0]",
            "tenants[0].users[0].grants.features[0]",
            "tenants[0].users[0].default_caller_id",
        ]
    );
}

// ------------------------------------------------------------------- what a file means

/// "Import is idempotent" — and independent of the order a file happens to list things in:
/// two files that differ only in order give the same tenants.
#[test]
fn parsing_does_not_depend_on_the_order_of_the_file() {
    let text = r#"
tenants:
  - id: acme
    users:
      - {id: carol, role: call_center_supervisor, custom_role: receptionist}
      - id: bob
        role: non_admin
        grants: {queues: [sales], full_call_report_access: false, numbers: ["+15550100000"]}
        extensions: ["201"]
      - {id: alice, role: tenant_admin, site: hq, extensions: ["101"]}
    feature_codes:
      - {code: "*46", feature: queue_pause_toggle, roles: [call_center_supervisor, call_center_agent]}
    roles:
      - id: receptionist
        permissions: {media: [edit, create, view], voicemail: [edit, view, create], extensions: [view]}
        description: Front desk
    queues:
      - {supervisors: [carol], agents: [bob], site: hq, number: "600", id: sales}
    extensions:
      - {ext: "201", site: depot, user: bob}
      - {ext: "101", site: hq, user: alice}
    numbers:
      - {number: "+15550100200", site: depot, emergency_callback: true}
      - {number: "+15550100101", site: hq, extension: "101"}
      - {number: "+15550100000", site: hq}
    sites: [{id: depot}, {id: hq}]
    emergency_numbers: ["933", "911"]
    default_caller_id: "+15550100000"
"#;
    assert_eq!(demo::parse(text), demo::parse(DESIGN_EXAMPLE));
}

/// "Import is idempotent (importing the same file twice changes nothing [...])": what the
/// engine hands back, written out again as YAML or JSON and read back, is the same.
#[test]
fn import_then_export_then_import_is_a_fixed_point() {
    for source in [include_str!("../examples/demo.yaml"), DESIGN_EXAMPLE] {
        let once = Directory {
            tenants: demo::parse(source),
        };
        let yaml = serde_yaml_ng::to_string(&once).unwrap();
        let twice = Directory {
            tenants: demo::parse(&yaml),
        };
        assert_eq!(twice, once, "YAML:\n{yaml}");
        assert_eq!(serde_yaml_ng::to_string(&twice).unwrap(), yaml);

        let json = serde_json::to_string_pretty(&once).unwrap();
        let thrice = Directory {
            tenants: demo::parse(&json),
        };
        assert_eq!(thrice, once, "JSON:\n{json}");
        assert_eq!(serde_json::to_string_pretty(&thrice).unwrap(), json);
    }
    // And the re-imported demo decides as the original does.
    let exported = serde_yaml_ng::to_string(&Directory {
        tenants: demo::tenants(),
    })
    .unwrap();
    let (before, after) = (demo::table(), demo::table_of(&demo::parse(&exported)));
    for user in ["alice", "bob", "frank", "ivan", "mallory", "nobody"] {
        for requested in [
            None,
            Some("+15550100000"),
            Some("+15550100102"),
            Some("+15550100201"),
        ] {
            for dialed in ["5551234", "911"] {
                assert_eq!(
                    after.check_caller_id("acme", user, requested, dialed),
                    before.check_caller_id("acme", user, requested, dialed),
                    "{user} {requested:?} {dialed}"
                );
            }
        }
        for code in ["*46*600", "*97", "**201", "*72*5551234"] {
            assert_eq!(
                after.check_feature_code("acme", user, code),
                before.check_feature_code("acme", user, code)
            );
        }
    }
}

/// "Extension: `ext`, optional site, optional owner user." / "User: [...] owned
/// `extensions`" — naming an extension on the user alone creates it, owned by them.
#[test]
fn a_users_extensions_create_the_extension_if_the_list_lacks_it() {
    let tenants = demo::parse(
        "tenants: [{id: t, sites: [{id: s}], numbers: [{number: '+15550000001', extension: '7'}], \
         users: [{id: u, role: basic_user, site: s, extensions: ['7']}]}]",
    );
    assert_eq!(
        tenants[0].extensions,
        [Extension {
            ext: "7".into(),
            site: Some("s".into()),
            user: Some("u".into())
        }]
    );
    // And it is theirs: the DID routed to it is a caller ID they may present.
    let t = demo::table_of(&tenants);
    let a = t.check_caller_id("t", "u", Some("+15550000001"), "5551234");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Allow, Reason::NumberPermitted)
    );

    // Ownership written on the extension alone shows on the user as well.
    let tenants = demo::parse(
        "tenants: [{id: t, extensions: [{ext: '7', user: u}], users: [{id: u, role: basic_user}]}]",
    );
    assert_eq!(tenants[0].users[0].extensions, ["7"]);
}

/// "Deleting a custom role drops it from its users, who keep their built-in role." — and
/// deleting a user or a number removes every reference, so the tenant still validates.
#[test]
fn deleting_a_role_a_user_or_a_number_leaves_a_valid_tenant() {
    let validates = |t: &Tenant, what: &str| {
        if let Err(e) = directory::validate(Directory {
            tenants: vec![t.clone()],
        }) {
            panic!("after deleting {what}: {e}");
        }
    };
    for tenant in demo::tenants() {
        for role in tenant.roles.iter().map(|r| r.id.clone()) {
            let mut t = tenant.clone();
            assert!(t.delete_role(&role));
            assert!(!t.delete_role(&role), "deleted twice");
            assert!(
                t.users
                    .iter()
                    .all(|u| u.custom_role.as_deref() != Some(role.as_str()))
            );
            validates(&t, &role);
        }
        for user in tenant.users.iter().map(|u| u.id.clone()) {
            let mut t = tenant.clone();
            assert!(t.delete_user(&user));
            assert!(!t.delete_user(&user), "deleted twice");
            validates(&t, &user);
        }
        for number in tenant.numbers.iter().map(|n| n.number.clone()) {
            let mut t = tenant.clone();
            assert!(t.delete_number(&number));
            assert!(!t.delete_number(&number), "deleted twice");
            validates(&t, &number);
        }
        // All of them, one after another.
        let mut t = tenant.clone();
        for role in tenant.roles.iter().map(|r| r.id.clone()) {
            t.delete_role(&role);
        }
        for user in tenant.users.iter().map(|u| u.id.clone()) {
            t.delete_user(&user);
        }
        for number in tenant.numbers.iter().map(|n| n.number.clone()) {
            t.delete_number(&number);
        }
        validates(&t, "everything");
    }
}

/// "Deleting a custom role drops it from its users, who keep their built-in role." — and a
/// feature code's allowlist stops naming it.
#[test]
fn deleting_a_custom_role_drops_it_from_feature_code_allowlists() {
    let mut tenants = demo::tenants();
    let acme = tenants.iter_mut().find(|t| t.id == "acme").unwrap();
    acme.delete_role("manager");
    let code = acme.feature_codes.iter().find(|f| f.code == "*46").unwrap();
    assert!(!code.roles.as_ref().unwrap().iter().any(|r| r == "manager"));
    let t = demo::table_of(&tenants);
    let a = t.check_feature_code("acme", "grace", "*46*201*600");
    assert_eq!(
        (a.outcome, a.reason),
        (Outcome::Deny, Reason::RoleNotAllowed)
    );
}

// ======================================================================== bounded input

fn problems_of(result: Result<Vec<Tenant>, DirectoryError>) -> Vec<Problem> {
    result.err().map(|e| e.problems()).unwrap_or_default()
}

/// The reproduced attack: "a 100 KB YAML with one anchor of 3,000 items aliased by 3,000
/// queues took 25 s and 6.2 GB RSS, and answered with 9 million problems". An alias is
/// refused before anything expands it.
#[test]
fn yaml_aliases_are_refused_before_they_expand() {
    let items: Vec<String> = (0..3000).map(|i| format!("u{i}")).collect();
    let mut text = format!(
        "tenants:\n  - id: acme\n    users: [{{id: u0, role: basic_user}}]\n    queues:\n      - {{id: q0, agents: &a [{}]}}\n",
        items.join(", ")
    );
    for q in 1..3000 {
        text.push_str(&format!("      - {{id: q{q}, agents: *a}}\n"));
    }
    assert!(text.len() < 150_000, "the attack is small: {}", text.len());
    let problems = problems_of(directory::parse(&text));
    assert_eq!(problems.len(), 1, "refused with one problem: {problems:?}");
    assert!(
        problems[0].message.contains("YAML aliases"),
        "{}",
        problems[0]
    );
    // An unquoted feature code is an alias to YAML: the error says how to write it.
    let unquoted = "tenants:\n  - id: a\n    feature_codes: [{code: *46, feature: park}]\n";
    let problems = problems_of(directory::parse(unquoted));
    assert!(problems[0].message.contains("quote"), "{:?}", problems);
    // Anchors without aliases, and `*` inside quotes, are fine.
    let fine = "tenants:\n  - id: a\n    sites: &s [{id: hq}]\n    feature_codes: [{code: \"*46\", feature: park}]\n";
    directory::parse(fine).expect("no alias, no problem");
}

/// "cap the size of a tenant (configurable counts per list)": a list over its limit is one
/// problem naming the list, and the tenant is not checked further.
#[test]
fn a_list_over_its_limit_is_refused_by_its_count() {
    let limits = directory::Limits {
        users: 3,
        list: 2,
        ..directory::Limits::default()
    };
    let users: Vec<String> = (0..4)
        .map(|i| format!("{{id: u{i}, role: nonsense}}"))
        .collect();
    let text = format!(
        "tenants:\n  - id: a\n    users: [{}]\n    queues: [{{id: q, agents: [u0, u1, u2]}}]\n",
        users.join(", ")
    );
    let problems = problems_of(directory::parse_with(&text, &limits));
    let shown: Vec<String> = problems.iter().map(Problem::to_string).collect();
    assert_eq!(
        shown,
        [
            "tenants[0].queues[0].agents: 3 entries, more than the limit of 2",
            "tenants[0].users: 4 entries, more than the limit of 3",
        ]
    );
    // Within the limits the same tenant is checked entry by entry.
    let roomy = directory::Limits::default();
    let problems = problems_of(directory::parse_with(&text, &roomy));
    assert!(problems.iter().any(|p| p.message.contains("unknown role")));
}

/// "stop after the first N problems and say how many more".
#[test]
fn problems_stop_at_the_limit_and_count_the_rest() {
    let users: Vec<String> = (0..250)
        .map(|i| format!("{{id: u{i}, role: superuser}}"))
        .collect();
    let text = format!("tenants:\n  - id: a\n    users: [{}]\n", users.join(", "));
    let problems = problems_of(directory::parse(&text));
    assert_eq!(problems.len(), 101);
    assert_eq!(problems[0].path, "tenants[0].users[0].role");
    assert_eq!(problems[100].message, "… and 150 more problem(s)");
}

/// "Puts extension ownership in both places it may be written": a tenant whose ownership is
/// written only on the extensions, or only on the users, or twice, validates to the same
/// tenant — for every demo tenant; and a validated tenant is a fixed point.
#[test]
fn ownership_written_either_way_gives_the_same_tenant() {
    for tenant in demo::tenants() {
        let validated = |t: Tenant| {
            directory::validate(Directory { tenants: vec![t] })
                .unwrap()
                .remove(0)
        };
        let mut on_extensions = tenant.clone();
        for u in &mut on_extensions.users {
            u.extensions.clear();
        }
        let mut on_users = tenant.clone();
        for e in &mut on_users.extensions {
            e.user = None;
        }
        // Undeclared: the users' lists alone create the extensions.
        let mut undeclared = on_users.clone();
        undeclared
            .extensions
            .retain(|e| !tenant.users.iter().any(|u| u.extensions.contains(&e.ext)));
        assert_eq!(validated(on_extensions), tenant, "{}", tenant.id);
        assert_eq!(validated(on_users), tenant, "{}", tenant.id);
        assert_eq!(validated(tenant.clone()), tenant, "{}", tenant.id);
        let again = validated(undeclared);
        assert_eq!(again.users, tenant.users, "{}", tenant.id);
        assert_eq!(
            again
                .extensions
                .iter()
                .map(|e| (&e.ext, &e.user))
                .collect::<Vec<_>>(),
            tenant
                .extensions
                .iter()
                .map(|e| (&e.ext, &e.user))
                .collect::<Vec<_>>(),
            "{}",
            tenant.id
        );
    }
}
