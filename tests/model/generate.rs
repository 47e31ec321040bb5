//! Generated directories and questions.
//!
//! A directory is built from a string of choice bytes (a proptest `Vec<u8>`): each decision of
//! the builder reads the next byte, and a byte of 0 always means "the simplest thing" (absent,
//! empty, first), so proptest shrinks a failing directory towards a small one. Every tenant
//! draws its ids from the same small pools, so ids collide across tenants (same user id, same
//! extension, same queue id and dial string, same numbers).

use std::collections::BTreeMap;

use callgate::catalog::BUILTIN_ROLES;
use callgate::model::{
    CustomRole, Directory, Extension, FeatureCode, Grants, Number, Queue, Site, User,
};
use callgate::{Action, Category, RecordingAction, Tenant, directory};
use proptest::prelude::*;
use proptest::sample::select;

use super::ask::Ask;
use super::reference::PLATFORM_EMERGENCY;

/// Tenant ids (a question may also name `nowhere`).
pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
/// Site ids.
pub const SITES: [&str; 3] = ["hq", "depot", "annex"];
/// User ids.
pub const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
/// Extensions (`600` is also a queue's dial string).
pub const EXTS: [&str; 6] = ["100", "101", "102", "200", "201", "600"];
/// DIDs.
pub const NUMBERS: [&str; 6] = [
    "+15550100000",
    "+15550100001",
    "+15550100002",
    "+15550100003",
    "+442070000000",
    "+442070000001",
];
/// Queue ids, and the dial string each may have.
pub const QUEUES: [(&str, &str); 3] = [("sales", "600"), ("support", "700"), ("q3", "800")];
/// Custom role ids.
pub const ROLES: [&str; 2] = ["r1", "r2"];
/// Tenant emergency numbers (`999` is on the platform list too).
pub const TENANT_EMERGENCY: [&str; 4] = ["933", "999", "0000", "12345"];
/// Feature codes a tenant may define (defaults, new ones, ones sharing a prefix).
pub const CODES: [&str; 13] = [
    "*45", "*46", "*47", "*70", "*72", "*73", "*97", "*98", "**", "*99", "*4", "*461", "*9",
];
/// Feature kinds a tenant's entry may name.
pub const FEATURES: [&str; 10] = [
    "queue_login_toggle",
    "queue_pause_toggle",
    "queue_callers",
    "call_forward_on",
    "call_forward_off",
    "voicemail_own",
    "voicemail_box",
    "pickup_directed",
    "park",
    "disabled",
];
/// Feature toggles a grant may switch on.
pub const TOGGLES: [&str; 9] = [
    "wallboard",
    "voicemail",
    "sms",
    "fax",
    "email_reports",
    "billing",
    "contacts",
    "supervisor_workspace",
    "call_recording_download",
];
/// The categories the decisions look at, drawn more often than the others.
const CALL_TIME: [Category; 9] = [
    Category::PhoneNumbers,
    Category::CallQueues,
    Category::CallRecordings,
    Category::Extensions,
    Category::Voicemail,
    Category::PickupGroups,
    Category::ParkingLots,
    Category::CallHistory,
    Category::Billing,
];

/// The builder's source of choices.
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    /// Choices read from `bytes`, then zeros.
    pub fn new(bytes: &'a [u8]) -> Choices<'a> {
        Choices { bytes, at: 0 }
    }
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    /// An index below `n` (0 if `n` is 0).
    fn pick(&mut self, n: usize) -> usize {
        let b = usize::from(self.byte());
        if n == 0 { 0 } else { b % n }
    }
    /// True about `percent` percent of the time; never for a 0 byte.
    fn yes(&mut self, percent: u32) -> bool {
        u32::from(self.byte()) * 100 >= (100 - percent.min(100)) * 256 && percent > 0
    }
    /// Each item, kept about `percent` percent of the time.
    fn subset<T: Clone>(&mut self, items: &[T], percent: u32) -> Vec<T> {
        items
            .iter()
            .filter(|_| self.yes(percent))
            .cloned()
            .collect()
    }
    /// One of `items`, about `percent` percent of the time (never if there are none).
    fn maybe<T: Clone>(&mut self, items: &[T], percent: u32) -> Option<T> {
        if items.is_empty() || !self.yes(percent) {
            return None;
        }
        items.get(self.pick(items.len())).cloned()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// One tenant, built from `c`.
pub fn tenant(id: &str, c: &mut Choices) -> Tenant {
    let mut t = Tenant {
        id: id.to_string(),
        ..Tenant::default()
    };
    t.emergency_numbers = strings(&c.subset(&TENANT_EMERGENCY, 30));
    if c.yes(8) {
        return t; // an empty tenant
    }
    let sites = strings(&c.subset(&SITES, 75));
    let users = strings(&c.subset(&USERS, 92));
    let exts = strings(&c.subset(&EXTS, 75));
    let numbers = strings(&c.subset(&NUMBERS, 75));
    let queues: Vec<(String, String)> = c
        .subset(&QUEUES, 85)
        .into_iter()
        .map(|(q, n)| (q.to_string(), n.to_string()))
        .collect();
    let roles = strings(&c.subset(&ROLES, 45));

    t.sites = sites.iter().map(|s| Site { id: s.clone() }).collect();
    t.extensions = exts
        .iter()
        .map(|e| Extension {
            ext: e.clone(),
            site: c.maybe(&sites, 60),
            user: c.maybe(&users, 75),
        })
        .collect();
    t.numbers = numbers
        .iter()
        .map(|n| Number {
            number: n.clone(),
            site: c.maybe(&sites, 60),
            extension: c.maybe(&exts, 50),
            emergency_callback: c.yes(30),
        })
        .collect();
    t.queues = queues
        .iter()
        .map(|(q, n)| Queue {
            id: q.clone(),
            number: c.yes(60).then(|| n.clone()),
            site: c.maybe(&sites, 50),
            agents: c.subset(&users, 40),
            supervisors: c.subset(&users, 25),
        })
        .collect();
    t.roles = roles
        .iter()
        .map(|r| {
            let scope = ["", "tenant", "site", "assigned", "self", "none"]
                .get(c.pick(6))
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_string());
            let mut permissions: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for _ in 0..c.pick(6) {
                let category = if c.yes(30) {
                    Category::ALL.get(c.pick(Category::ALL.len())).copied()
                } else {
                    CALL_TIME.get(c.pick(CALL_TIME.len())).copied()
                };
                let Some(category) = category else { continue };
                let actions: Vec<String> = c
                    .subset(Action::ALL, 45)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                permissions
                    .entry(category.to_string())
                    .or_default()
                    .extend(actions);
            }
            CustomRole {
                id: r.clone(),
                description: None,
                scope,
                permissions,
            }
        })
        .collect();
    let mut allowlist: Vec<String> = strings(&["call_center_agent", "basic_user", "tenant_admin"]);
    allowlist.extend(roles.iter().cloned());
    for _ in 0..c.pick(4) {
        let code = CODES.get(c.pick(CODES.len())).copied().unwrap_or("*99");
        if t.feature_codes.iter().any(|f| f.code == code) {
            continue;
        }
        t.feature_codes.push(FeatureCode {
            code: code.to_string(),
            feature: FEATURES
                .get(c.pick(FEATURES.len()))
                .copied()
                .unwrap_or("park")
                .to_string(),
            roles: c.yes(40).then(|| c.subset(&allowlist, 40)),
        });
    }
    let queue_ids: Vec<String> = queues.iter().map(|(q, _)| q.clone()).collect();
    t.users = users
        .iter()
        .map(|u| User {
            id: u.clone(),
            role: BUILTIN_ROLES
                .get(c.pick(BUILTIN_ROLES.len()))
                .map_or("basic_user", |r| r.name)
                .to_string(),
            custom_role: c.maybe(&roles, 45),
            site: c.maybe(&sites, 45),
            extensions: Vec::new(),
            grants: Grants {
                full_call_report_access: c.yes(15),
                extensions: c.subset(&exts, 20),
                queues: c.subset(&queue_ids, 20),
                numbers: c.subset(&numbers, 20),
                features: strings(&c.subset(&TOGGLES, 15)),
            },
            default_caller_id: c.maybe(&numbers, 25),
            status: if c.yes(15) {
                Some("suspended".into())
            } else if c.yes(10) {
                Some("active".into())
            } else {
                None
            },
        })
        .collect();
    t.default_caller_id = c.maybe(&numbers, 50);
    t
}

/// A directory as a file would hold it (not yet validated): three tenants, sometimes fewer.
pub fn raw_directory(bytes: &[u8]) -> Directory {
    let mut c = Choices::new(bytes);
    let count = 3 - c.pick(3);
    let tenants: Vec<Tenant> = TENANTS
        .iter()
        .take(count)
        .map(|id| tenant(id, &mut c))
        .collect();
    Directory { tenants }
}

/// A whole directory, validated (so in canonical form, as the store and the table see it).
/// A generator that builds an invalid directory is a bug: it panics.
pub fn directory(bytes: &[u8]) -> Vec<Tenant> {
    valid(raw_directory(bytes))
}

/// `tenants` validated, in canonical form (a generator bug panics).
pub fn valid(d: Directory) -> Vec<Tenant> {
    match directory::validate(d) {
        Ok(t) => t,
        Err(e) => panic!("the generator built an invalid directory: {e}"),
    }
}

/// The bytes a directory is built from.
pub fn directory_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..3000)
}

// ------------------------------------------------------------------ questions

/// Queues: ids, dial strings, unknowns.
const ASK_QUEUES: [&str; 9] = [
    "sales", "support", "q3", "600", "700", "800", "nope", "", "100",
];
/// Extensions: the pool and unknowns.
const ASK_EXTS: [&str; 9] = ["100", "101", "102", "200", "201", "600", "999", "", "sales"];
/// Numbers: the pool, lenient spellings of it, numbers nobody owns, non-numbers.
const ASK_NUMBERS: [&str; 12] = [
    "+15550100000",
    "+15550100001",
    "+15550100002",
    "+15550100003",
    "+442070000000",
    "+442070000001",
    "15550100001",
    "+1 (555) 010-0002",
    "+15559990000",
    "+0123",
    "x",
    "",
];
/// Sites: the pool and an unknown one.
const ASK_SITES: [&str; 5] = ["hq", "depot", "annex", "moon", ""];

fn text(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(pool).prop_map(str::to_string)
}

/// A user a question names: mostly one of the pool's, sometimes one nobody has, or any text.
fn user() -> impl Strategy<Value = String> {
    prop_oneof![12 => text(&USERS), 1 => text(&["zed", ""]), 1 => any::<String>()]
}

/// Mostly a name from the pool, sometimes any text at all: decisions are total.
fn name(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![20 => text(pool), 1 => any::<String>()]
}

fn maybe(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text(pool))
}

/// A resource part: named a third of the time (a resource of four parts has all of them
/// known seldom enough as it is).
fn rarely(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(0.35, text(pool))
}

/// The ways a phone or proxy may spell a dialed number `n`.
pub fn spellings(n: &str) -> Vec<String> {
    let mut sep = String::new();
    for (i, ch) in n.chars().enumerate() {
        if i > 0 {
            sep.push(match i % 3 {
                0 => '-',
                1 => '.',
                _ => ' ',
            });
        }
        sep.push(ch);
    }
    let escaped: String = n.chars().map(|ch| format!("%{:02X}", ch as u32)).collect();
    vec![
        n.to_string(),
        format!("{n}#"),
        sep,
        format!("({n})"),
        format!("sip:{n}@pbx.example.com"),
        format!("SIP:{n}@pbx.example.com;user=phone"),
        format!("sips:{n}@10.0.0.1:5061"),
        format!("tel:{n};phone-context=+1"),
        format!("tel:{n}"),
        escaped.clone(),
        format!("sip:{escaped}@pbx.example.com"),
        format!("{n};phone-context=example.com"),
    ]
}

/// Emergency URNs in several spellings.
pub const SOS_URNS: [&str; 8] = [
    "urn:service:sos",
    "URN:Service:SOS",
    "urn:service:sos.fire",
    "urn:service:sos.police",
    "sip:urn:service:sos@example.com",
    "sip:sos@example.com",
    "SOS",
    "sos@pbx",
];

/// A dialed string: an emergency number (platform's or some tenant's) in some spelling, an
/// SOS URN, a near miss, an ordinary number, or anything at all.
pub fn dialed() -> impl Strategy<Value = String> {
    let emergency: Vec<&'static str> = PLATFORM_EMERGENCY
        .iter()
        .chain(TENANT_EMERGENCY.iter())
        .copied()
        .collect();
    prop_oneof![
        4 => (select(emergency), any::<prop::sample::Index>())
            .prop_map(|(n, i)| i.get(&spellings(n)).clone()),
        1 => select(&SOS_URNS[..]).prop_map(str::to_string),
        3 => select(&["9111", "91", "911##", "*911", "urn:service:sosx", "urn:service:counseling",
                      "sip:5551234@example.com", "5551234", "+15551234567", "1-1-2-2", ""][..])
            .prop_map(str::to_string),
        1 => "[+0-9 ()*#a-z.%:;@-]{0,16}",
        1 => any::<String>(),
    ]
}

/// A requested caller ID: a number (in any form), some other text, or none.
fn requested() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        prop_oneof![6 => text(&ASK_NUMBERS), 1 => "[+0-9 ()*#a-z.-]{0,20}", 1 => any::<String>()],
    )
}

/// A feature code with arguments (queue ids, dial strings, extensions, a forwarding target).
fn feature_dialed() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            8 => select(&CODES[..]),
            1 => select(&["*", "#", "*1", "*46*", "*4*6"][..])
        ],
        proptest::collection::vec(
            prop_oneof![
                select(&ASK_EXTS[..]),
                select(&ASK_QUEUES[..]),
                Just("5551234")
            ],
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(code, args, hash)| {
            let mut dialed = code.to_string();
            for (i, a) in args.iter().enumerate() {
                if i > 0 || !code.ends_with('*') {
                    dialed.push('*');
                }
                dialed.push_str(a);
            }
            if hash {
                dialed.push('#');
            }
            dialed
        })
}

fn recording_action() -> impl Strategy<Value = RecordingAction> {
    select(
        &[
            RecordingAction::List,
            RecordingAction::Play,
            RecordingAction::Download,
            RecordingAction::Delete,
        ][..],
    )
}

/// Categories for a question: mostly the ones decisions turn on.
fn category() -> impl Strategy<Value = Category> {
    prop_oneof![select(&CALL_TIME[..]), select(Category::ALL)]
}

/// A question of any of the five kinds.
pub fn ask() -> impl Strategy<Value = Ask> {
    prop_oneof![
        3 => (user(), requested(), dialed())
            .prop_map(|(user, requested, dialed)| Ask::CallerId { user, requested, dialed }),
        2 => (user(), user(), name(&ASK_QUEUES), any::<bool>())
            .prop_map(|(actor, agent, queue, paused)| Ask::Pause { actor, agent, queue, paused }),
        3 => (
            user(),
            recording_action(),
            maybe(&ASK_QUEUES),
            proptest::collection::vec(text(&ASK_EXTS), 0..3),
            proptest::collection::vec(name(&ASK_NUMBERS), 0..3),
            maybe(&ASK_SITES),
        )
            .prop_map(|(actor, action, queue, exts, numbers, site)| Ask::Recording {
                actor, action, queue, exts, numbers, site
            }),
        3 => (
            user(),
            prop_oneof![6 => feature_dialed(), 2 => dialed(), 1 => "[*#0-9a-z%+._-]{0,12}"],
        )
            .prop_map(|(user, dialed)| Ask::Feature { user, dialed }),
        4 => (
            user(),
            category(),
            select(Action::ALL),
            (rarely(&ASK_SITES), rarely(&ASK_QUEUES), rarely(&ASK_EXTS), rarely(&ASK_NUMBERS)),
        )
            .prop_map(|(user, category, action, (site, queue, extension, number))| {
                Ask::Permission { user, category, action, resource: [site, queue, extension, number] }
            }),
    ]
}

/// The tenant a question is put to, as [`resolve_tenant`] reads it against a directory.
pub fn tenant_id() -> impl Strategy<Value = &'static str> {
    prop_oneof![12 => select(&TENANTS[..]), 1 => Just("nowhere")]
}

/// The tenant a question drawn as `drawn` is put to: `nowhere` stays a tenant nobody has; a
/// pool id the directory doesn't have stands for one of the tenants it has (so most
/// questions reach a tenant; unknown tenants are asked about a tenth of the time anyway).
pub fn resolve_tenant<'a>(tenants: &'a [Tenant], drawn: &'a str) -> &'a str {
    if drawn == "nowhere" || tenants.iter().any(|t| t.id == drawn) || tenants.is_empty() {
        return drawn;
    }
    let i = TENANTS.iter().position(|t| *t == drawn).unwrap_or(0);
    tenants
        .get(i % tenants.len())
        .map_or(drawn, |t| t.id.as_str())
}
