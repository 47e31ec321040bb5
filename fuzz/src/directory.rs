//! Directory invariants, shared by the `directory` fuzz target and `tests/fuzz_replay.rs`
//! (which includes this file by `#[path]`): parsing never panics; a refused directory says
//! why, in non-empty problems (at most the listed hundred and a count); an accepted one is
//! stable (parsing it again, or its JSON, gives the same tenants), and once compiled, an
//! emergency call from anyone is never denied and no caller ID is a number the tenant lacks.

use callgate::{Directory, Outcome, Table};

/// Parses `data` (as text) and checks every invariant.
pub fn check_directory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tenants = match callgate::directory::parse(text) {
        Err(e) => {
            let problems = e.problems();
            assert!(!problems.is_empty(), "a refusal without a problem");
            assert!(problems.len() <= 101, "{} problems listed", problems.len());
            for p in &problems {
                assert!(
                    !p.message.is_empty(),
                    "a problem without a message at `{}`",
                    p.path
                );
            }
            assert!(!e.to_string().is_empty(), "an empty error");
            return;
        }
        Ok(tenants) => tenants,
    };
    // Pure and stable: the same text, and the result's own JSON, give the same tenants.
    assert_eq!(
        callgate::directory::parse(text).ok().as_ref(),
        Some(&tenants),
        "parsing twice differs"
    );
    let json = serde_json::to_string(&Directory {
        tenants: tenants.clone(),
    })
    .expect("a directory serializes");
    match callgate::directory::parse(&json) {
        Ok(again) => assert_eq!(again, tenants, "its JSON reads back otherwise"),
        Err(e) => panic!("an accepted directory's JSON is refused: {e}\n{json}"),
    }

    let table = Table::new();
    table.replace_all(&tenants, 1);
    for t in tenants.iter().take(8) {
        let owns = |n: &str| t.numbers.iter().any(|x| x.number == n);
        let users = t.users.iter().take(16).map(|u| u.id.as_str());
        for user in users.chain(["no-such-user"]) {
            let dials = t
                .emergency_numbers
                .iter()
                .take(4)
                .map(String::as_str)
                .chain(["911", "112", "tel:911", "urn:service:sos"]);
            for dialed in dials {
                let a = table.check_caller_id(&t.id, user, Some("+15550100000"), dialed);
                assert_ne!(
                    a.outcome,
                    Outcome::Deny,
                    "`{user}`@`{}` dialing `{dialed}` was denied ({:?})",
                    t.id,
                    a.reason
                );
                if let Some(n) = a.caller_id {
                    assert!(
                        owns(&n.to_string()),
                        "`{user}`@`{}` dialing `{dialed}` presents `{n}`, not the tenant's",
                        t.id
                    );
                }
            }
            let a = table.check_caller_id(&t.id, user, Some("+15550100000"), "5551234");
            if let Some(n) = a.caller_id {
                assert!(
                    owns(&n.to_string()),
                    "`{user}`@`{}` presents `{n}`, not the tenant's",
                    t.id
                );
            }
        }
    }
}
