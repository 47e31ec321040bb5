//! The engine against a reference model: for generated directories (every built-in role,
//! custom roles of every scope, sites or none, suspended users, empty tenants, ids that
//! collide across tenants, feature-code overrides, grants of every kind, emergency numbers)
//! and generated questions of all five kinds, `callgate::Table` must give the decision, the
//! reason code, the caller ID, the feature and its arguments that the plain model in
//! `tests/model/reference.rs` gives, read straight off DESIGN.md.
//!
//! `PROPTEST_CASES=N` sets the number of directories (default 1,000, 64 questions each);
//! `scripts/model-check.sh N` runs a long one.

#[path = "model/reference.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod reference;

#[path = "model/ask.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
mod ask;

#[path = "model/generate.rs"]
#[allow(
    dead_code,
    reason = "shared by several test crates, each using part of it"
)]
#[expect(clippy::panic, reason = "a generator bug fails the test loudly")]
mod generate;

use std::time::Instant;

use callgate::Table;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// How many directories a run generates: `PROPTEST_CASES`, else 1,000 (64,000 questions,
/// about a second in release on the 2-core development VM).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// Questions asked per directory.
const ASKS: usize = 64;

/// Every answer of the engine is the model's. Prints how many questions were compared (see
/// it with `--nocapture`).
#[test]
fn the_engine_decides_as_the_reference_model() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        generate::directory_bytes(),
        proptest::collection::vec((generate::tenant_id(), generate::ask()), ASKS),
    );
    let started = Instant::now();
    let asked = std::cell::Cell::new(0u64);
    let result = runner.run(&strategy, |(bytes, asks)| {
        let tenants = generate::directory(&bytes);
        let table = Table::new();
        table.replace_all(&tenants, 7);
        for (drawn, q) in &asks {
            let tenant = generate::resolve_tenant(&tenants, drawn);
            let want = ask::model(&tenants, tenant, q);
            let got = ask::engine(&table, tenant, q);
            if got != want {
                return Err(TestCaseError::fail(format!(
                    "\nquestion to `{tenant}`: {q:?}\nengine: {got:?}\nmodel:  {want:?}\n\
                     directory: {}",
                    serde_json::to_string(&tenants).unwrap_or_default()
                )));
            }
        }
        asked.set(asked.get() + asks.len() as u64);
        Ok(())
    });
    eprintln!(
        "reference model: {} questions compared, over up to {} directories, in {:.1?}",
        asked.get(),
        cases(),
        started.elapsed()
    );
    match result {
        Ok(()) => {}
        // The reason names the question, both answers and the (shrunk) directory; the raw
        // choice bytes and the other questions would only bury it.
        Err(TestError::Fail(reason, _)) => {
            panic!("the engine and the reference model disagree: {reason}")
        }
        Err(e) => panic!("{e}"),
    }
}

/// Not a gate: a survey of where the engine and the model disagree, each kind of
/// disagreement (decision kind, engine's reason, model's reason) counted once with its
/// smallest example. `cargo test --release --test reference_model -- --ignored --nocapture`.
#[test]
#[ignore = "a report for people, run by hand"]
fn survey_disagreements() {
    use proptest::strategy::{Strategy, ValueTree};
    use std::collections::BTreeMap;

    let mut runner = TestRunner::deterministic();
    let strategy = (
        generate::directory_bytes(),
        proptest::collection::vec((generate::tenant_id(), generate::ask()), ASKS),
    );
    let mut seen: BTreeMap<(String, String, String), (u64, String)> = BTreeMap::new();
    let mut asked = 0u64;
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..cases() {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (bytes, asks) = tree.current();
        let tenants = generate::directory(&bytes);
        let table = Table::new();
        table.replace_all(&tenants, 7);
        for (drawn, q) in &asks {
            let tenant = generate::resolve_tenant(&tenants, drawn);
            asked += 1;
            let want = ask::model(&tenants, tenant, q);
            let got = ask::engine(&table, tenant, q);
            let kind = format!("{q:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string();
            *answers
                .entry(format!("{kind} {}/{}", want.decision, want.reason))
                .or_insert(0) += 1;
            if got == want {
                continue;
            }
            let key = (
                kind,
                format!("{}/{}", got.decision, got.reason),
                format!("{}/{}", want.decision, want.reason),
            );
            let example = format!(
                "question to `{tenant}`: {q:?}\n    engine: {got:?}\n    model:  {want:?}\n    directory: {}",
                serde_json::to_string(&tenants).unwrap_or_default()
            );
            let entry = seen.entry(key).or_insert((0, example.clone()));
            entry.0 += 1;
            if example.len() < entry.1.len() {
                entry.1 = example;
            }
        }
    }
    eprintln!("{asked} questions; the model's answers:");
    for (answer, count) in &answers {
        eprintln!("  {count:>9} {answer}");
    }
    eprintln!("{} kinds of disagreement", seen.len());
    for ((kind, engine, model), (count, example)) in &seen {
        eprintln!("\n{kind}: engine {engine}, model {model} ({count}x)\n  {example}");
    }
}
