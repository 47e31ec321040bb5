//! Reading and validating directory files (YAML or JSON, one or more tenants).
//!
//! A file is refused whole: [`parse`] reports every problem at once, each with its path
//! (``tenants[0].users[2].role: unknown role `superuser` ``), and returns nothing to apply.
//!
//! Input is bounded ([`Limits`]): YAML aliases are refused before anything expands them, each
//! list of a tenant has a most-entries count checked before the entries are, and at most
//! [`Limits::max_problems`] problems are listed, then how many more there were.

// foldhash: validation hashes every id of a tenant several times; SipHash's DoS resistance
// buys nothing here (one tenant's own ids) and costs a third of a large tenant's validation.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::fmt;

use crate::catalog::{self, Action, Category, RoleId, Scope};
use crate::feature::FeatureKind;
use crate::model::{Directory, Tenant};
use crate::number::E164;

/// One thing wrong with a directory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `tenants[0].users[2].role`.
    pub path: String,
    /// What, lowercase, the input in backticks.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a directory file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// It isn't well-formed YAML/JSON of the directory's shape.
    #[error("{0}")]
    Syntax(Problem),
    /// It is well-formed but wrong: every problem, in file order.
    #[error("{} problem(s): {}", .0.len(), join(.0))]
    Invalid(Vec<Problem>),
}

impl DirectoryError {
    /// Every problem, one per line's worth.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            DirectoryError::Syntax(p) => vec![p.clone()],
            DirectoryError::Invalid(ps) => ps.clone(),
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How much one directory file or tenant may hold. The defaults fit a tenant of 200,000
/// users with room to spare; a platform with larger tenants raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Tenants in one file.
    pub tenants: usize,
    /// Users of one tenant.
    pub users: usize,
    /// Extensions, numbers of one tenant (each).
    pub numbers: usize,
    /// Sites, queues, custom roles, feature codes of one tenant (each).
    pub entities: usize,
    /// Entries of one list inside an entity: a queue's agents or supervisors, a user's
    /// extensions or grants of one kind, a role's permissions, a code's roles, a tenant's
    /// emergency numbers.
    pub list: usize,
    /// Problems listed before the rest are only counted.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            tenants: 100_000,
            users: 250_000,
            numbers: 500_000,
            entities: 50_000,
            list: 10_000,
            max_problems: 100,
        }
    }
}

/// Parses a directory file's text (JSON if it starts with `{`, else YAML) and validates it.
/// On success every tenant is returned in canonical form, ready to store or compile.
pub fn parse(text: &str) -> Result<Vec<Tenant>, DirectoryError> {
    parse_with(text, &Limits::default())
}

/// [`parse`], within `limits`.
pub fn parse_with(text: &str, limits: &Limits) -> Result<Vec<Tenant>, DirectoryError> {
    let directory = parse_syntax(text)?;
    validate_with(directory, limits)
}

/// Parses a single tenant document (the body of a whole-tenant `PUT`) and validates it.
pub fn parse_tenant(text: &str) -> Result<Tenant, DirectoryError> {
    parse_tenant_with(text, &Limits::default())
}

/// [`parse_tenant`], within `limits`.
pub fn parse_tenant_with(text: &str, limits: &Limits) -> Result<Tenant, DirectoryError> {
    let tenant: Tenant = deserialize(text)?;
    let mut tenants = validate_with(
        Directory {
            tenants: vec![tenant],
        },
        limits,
    )?;
    tenants.pop().ok_or_else(|| {
        DirectoryError::Syntax(Problem {
            path: String::new(),
            message: "no tenant".into(),
        })
    })
}

fn parse_syntax(text: &str) -> Result<Directory, DirectoryError> {
    deserialize(text)
}

fn deserialize<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DirectoryError> {
    let syntax = |path: String, message: String| DirectoryError::Syntax(Problem { path, message });
    if text.trim_start().starts_with('{') {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            syntax(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })
    } else {
        refuse_aliases(text)?;
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            // serde_yaml_ng starts its message with its own idea of the path (`tenants[0]: `);
            // the problem carries the path already, so say it once.
            let message = e.into_inner().to_string();
            let message = match message.split_once(": ") {
                Some((prefix, rest)) if !prefix.is_empty() && path.starts_with(prefix) => {
                    rest.to_string()
                }
                _ => message,
            };
            syntax(path, message)
        })
    }
}

/// Refuses a YAML text with an alias (`*name`): serde_yaml_ng would expand it, and a few
/// kilobytes of nested aliases expand to gigabytes. A directory never needs one.
fn refuse_aliases(text: &str) -> Result<(), DirectoryError> {
    let refuse = |line: usize| {
        DirectoryError::Syntax(Problem {
            path: String::new(),
            message: format!(
                "line {line}: YAML aliases (`*name`) are not accepted; write the value out \
                 (quote a feature code: `\"*46\"`)"
            ),
        })
    };
    for event in saphyr_parser::Parser::new_from_str(text) {
        match event {
            Ok((saphyr_parser::Event::Alias(_), span)) => return Err(refuse(span.start.line())),
            Ok(_) => {}
            // An alias of no anchor: most often an unquoted feature code.
            Err(e) if e.info().contains("anchor") => return Err(refuse(e.marker().line())),
            // serde_yaml_ng reports other syntax errors in its own words, with the path.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Validates a parsed directory; see the module docs.
pub fn validate(directory: Directory) -> Result<Vec<Tenant>, DirectoryError> {
    validate_with(directory, &Limits::default())
}

/// [`validate`], within `limits`.
pub fn validate_with(directory: Directory, limits: &Limits) -> Result<Vec<Tenant>, DirectoryError> {
    let mut problems = Problems::default();
    if directory.tenants.len() > limits.tenants {
        problems.add(
            Loc::root("tenants"),
            too_many(directory.tenants.len(), limits.tenants),
        );
        return Err(problems.into_error(limits));
    }
    let mut seen = HashSet::new();
    for (t, tenant) in directory.tenants.iter().enumerate() {
        let path = Loc::root("tenants").at(t);
        if !seen.insert(tenant.id.as_str()) {
            problems.add(
                path.field("id"),
                format!("duplicate tenant `{}`", tenant.id),
            );
        }
        // A tenant over a limit is not checked further: its size is the problem.
        if check_sizes(tenant, &path, limits, &mut problems) {
            validate_tenant(tenant, &path, &mut problems);
        }
    }
    if problems.0.is_empty() {
        Ok(directory.tenants.into_iter().map(normalize).collect())
    } else {
        Err(problems.into_error(limits))
    }
}

fn too_many(count: usize, limit: usize) -> String {
    format!("{count} entries, more than the limit of {limit}")
}

/// Checks every list of a tenant against `limits`; whether all are within them.
fn check_sizes(t: &Tenant, path: &Loc, limits: &Limits, problems: &mut Problems) -> bool {
    let before = problems.0.len();
    let mut check = |len: usize, limit: usize, at: &dyn Fn() -> Loc| {
        if len > limit {
            problems.add(at(), too_many(len, limit));
        }
    };
    check(t.users.len(), limits.users, &|| path.field("users"));
    check(t.extensions.len(), limits.numbers, &|| {
        path.field("extensions")
    });
    check(t.numbers.len(), limits.numbers, &|| path.field("numbers"));
    check(t.sites.len(), limits.entities, &|| path.field("sites"));
    check(t.queues.len(), limits.entities, &|| path.field("queues"));
    check(t.roles.len(), limits.entities, &|| path.field("roles"));
    check(t.feature_codes.len(), limits.entities, &|| {
        path.field("feature_codes")
    });
    check(t.emergency_numbers.len(), limits.list, &|| {
        path.field("emergency_numbers")
    });
    for (i, q) in t.queues.iter().enumerate() {
        check(q.agents.len(), limits.list, &|| {
            path.field("queues").at(i).field("agents")
        });
        check(q.supervisors.len(), limits.list, &|| {
            path.field("queues").at(i).field("supervisors")
        });
    }
    for (i, u) in t.users.iter().enumerate() {
        user_lists(u, &mut |len, field| {
            check(len, limits.list, &|| {
                path.field("users").at(i).fields(field)
            });
        });
    }
    for (i, r) in t.roles.iter().enumerate() {
        let actions: usize =
            r.permissions.len() + r.permissions.values().map(Vec::len).sum::<usize>();
        check(actions, limits.list, &|| {
            path.field("roles").at(i).field("permissions")
        });
    }
    for (i, c) in t.feature_codes.iter().enumerate() {
        let roles = c.roles.as_ref().map_or(0, Vec::len);
        check(roles, limits.list, &|| {
            path.field("feature_codes").at(i).field("roles")
        });
    }
    problems.0.len() == before
}

/// Calls `f` with the length and field path of each list a user holds (`extensions`,
/// `grants.queues`, …), each of which [`Limits::list`] bounds.
fn user_lists(u: &crate::model::User, f: &mut dyn FnMut(usize, &[&'static str])) {
    let g = &u.grants;
    for (field, len) in [
        (&["extensions"][..], u.extensions.len()),
        (&["grants", "extensions"], g.extensions.len()),
        (&["grants", "queues"], g.queues.len()),
        (&["grants", "numbers"], g.numbers.len()),
        (&["grants", "features"], g.features.len()),
    ] {
        f(len, field);
    }
}

/// The fields of each part of the format, in the order the format (and an export) writes
/// them, keyed by the name of the list or field that holds the part.
const FIELD_ORDER: [(&str, &[&str]); 9] = [
    (
        "tenants",
        &[
            "id",
            "default_caller_id",
            "emergency_numbers",
            "sites",
            "numbers",
            "extensions",
            "queues",
            "roles",
            "feature_codes",
            "users",
        ],
    ),
    ("sites", &["id"]),
    (
        "numbers",
        &["number", "site", "extension", "emergency_callback"],
    ),
    ("extensions", &["ext", "site", "user"]),
    ("queues", &["id", "number", "site", "agents", "supervisors"]),
    ("roles", &["id", "description", "scope", "permissions"]),
    ("feature_codes", &["code", "feature", "roles"]),
    (
        "users",
        &[
            "id",
            "role",
            "custom_role",
            "site",
            "extensions",
            "grants",
            "default_caller_id",
            "status",
        ],
    ),
    (
        "grants",
        &[
            "full_call_report_access",
            "extensions",
            "queues",
            "numbers",
            "features",
        ],
    ),
];

/// Where in a directory a problem is: the fields, list positions and map keys that lead
/// there, kept as parts so problems sort in file order, and spelled as the problem's path
/// (`tenants[0].users[2].grants.queues[1]`) only when reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Loc(Vec<Step>);

/// One part of a [`Loc`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// A field of the format.
    Field(&'static str),
    /// A position in a list.
    Index(usize),
    /// A key of a map (a custom role's permission category).
    Key(Box<str>),
}

impl Loc {
    /// A top-level field (`tenants`).
    fn root(field: &'static str) -> Loc {
        Loc(vec![Step::Field(field)])
    }

    fn then(&self, step: Step) -> Loc {
        let mut steps = Vec::with_capacity(self.0.len() + 1);
        steps.extend_from_slice(&self.0);
        steps.push(step);
        Loc(steps)
    }

    /// A field of what this is.
    fn field(&self, name: &'static str) -> Loc {
        self.then(Step::Field(name))
    }

    /// Fields one within the other (`grants`, `queues`).
    fn fields(&self, names: &[&'static str]) -> Loc {
        let mut loc = self.clone();
        loc.0.extend(names.iter().map(|&n| Step::Field(n)));
        loc
    }

    /// An item of the list this is.
    fn at(&self, i: usize) -> Loc {
        self.then(Step::Index(i))
    }

    /// An entry of the map this is.
    fn key(&self, key: &str) -> Loc {
        self.then(Step::Key(key.into()))
    }

    /// The path as a problem reports it.
    fn spelled(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            match step {
                Step::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Step::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    /// Its sort key in file order, a part at a time: each field by its place in its part of
    /// the format ([`FIELD_ORDER`]), list items by position, map keys by name.
    fn order(&self) -> impl Iterator<Item = (usize, usize, &str)> {
        self.0.iter().scan("", |parent, step| {
            Some(match step {
                Step::Field(name) => {
                    let rank = FIELD_ORDER
                        .iter()
                        .find(|(p, _)| p == parent)
                        .and_then(|(_, fields)| fields.iter().position(|f| f == name))
                        .unwrap_or(usize::MAX);
                    *parent = name;
                    (rank, 0, *name)
                }
                Step::Key(key) => {
                    *parent = key;
                    (usize::MAX, 0, &**key)
                }
                Step::Index(i) => (0, *i, ""),
            })
        })
    }
}

/// Puts extension ownership in both places it may be written (the extension's `user` and the
/// user's `extensions`), then sorts: two files that mean the same give the same tenant.
fn normalize(mut tenant: Tenant) -> Tenant {
    // Worked out on borrowed ids first, then applied: a tenant that is canonical already (a
    // stored tenant with one user edited) costs lookups, not a copy of every id.
    let (missing, owners, owned) = {
        let t = &tenant;
        // Who owns each extension: its own `user`, overridden by a user listing it.
        let mut owner_of: HashMap<&str, &str> = HashMap::with_capacity(t.extensions.len());
        for e in &t.extensions {
            if let Some(u) = &e.user {
                owner_of.insert(e.ext.as_str(), u.as_str());
            }
        }
        for u in &t.users {
            for ext in &u.extensions {
                owner_of.insert(ext.as_str(), u.id.as_str());
            }
        }
        // Extensions users list that the tenant does not declare.
        let declared: HashSet<&str> = t.extensions.iter().map(|e| e.ext.as_str()).collect();
        let mut added: HashSet<&str> = HashSet::new();
        let mut missing = Vec::new();
        for u in &t.users {
            for ext in &u.extensions {
                if !declared.contains(ext.as_str()) && added.insert(ext.as_str()) {
                    missing.push(crate::model::Extension {
                        ext: ext.clone(),
                        site: u.site.clone(),
                        user: None,
                    });
                }
            }
        }
        // Each declared extension's owner, where it is not already the one it names.
        let owners: Vec<(usize, Option<String>)> = t
            .extensions
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let owner = owner_of.get(e.ext.as_str()).copied();
                (e.user.as_deref() != owner).then(|| (i, owner.map(str::to_string)))
            })
            .collect();
        // Each user's extensions, in the tenant's extension order (the missing ones last).
        let mut owned: HashMap<&str, Vec<&str>> = HashMap::new();
        for ext in t
            .extensions
            .iter()
            .map(|e| e.ext.as_str())
            .chain(missing.iter().map(|e| e.ext.as_str()))
        {
            if let Some(u) = owner_of.get(ext) {
                owned.entry(u).or_default().push(ext);
            }
        }
        // Only the users whose list is not that already.
        let owned: Vec<(usize, Vec<String>)> = t
            .users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let want = owned.get(u.id.as_str()).map_or(&[][..], Vec::as_slice);
                let same = u.extensions.len() == want.len()
                    && u.extensions.iter().zip(want).all(|(a, b)| a == b);
                (!same).then(|| (i, want.iter().map(|x| (*x).to_string()).collect()))
            })
            .collect();
        let missing: Vec<crate::model::Extension> = missing
            .into_iter()
            .map(|mut e| {
                e.user = owner_of.get(e.ext.as_str()).map(|u| (*u).to_string());
                e
            })
            .collect();
        (missing, owners, owned)
    };
    for (i, owner) in owners {
        if let Some(e) = tenant.extensions.get_mut(i) {
            e.user = owner;
        }
    }
    tenant.extensions.extend(missing);
    for (i, exts) in owned {
        if let Some(u) = tenant.users.get_mut(i) {
            u.extensions = exts;
        }
    }
    for u in &mut tenant.users {
        if u.status.as_deref() == Some("active") {
            u.status = None;
        }
    }
    tenant.canonical()
}

/// Problems as they are found, each with where it is.
#[derive(Default)]
struct Problems(Vec<(Loc, String)>);

impl Problems {
    fn add(&mut self, at: Loc, message: String) {
        self.0.push((at, message));
    }

    /// The problems in the order the file lists what they are about (checks run in the order
    /// they need: ids before references to them), the first `max_problems` of them, then a
    /// count of the rest.
    fn into_error(self, limits: &Limits) -> DirectoryError {
        let mut found = self.0;
        found.sort_by(|(a, _), (b, _)| a.order().cmp(b.order()));
        let mut problems: Vec<Problem> = found
            .into_iter()
            .map(|(at, message)| Problem {
                path: at.spelled(),
                message,
            })
            .collect();
        let more = problems.len().saturating_sub(limits.max_problems);
        if more > 0 {
            problems.truncate(limits.max_problems);
            problems.push(Problem {
                path: String::new(),
                message: format!("… and {more} more problem(s)"),
            });
        }
        DirectoryError::Invalid(problems)
    }
}

/// The ids of one kind within a tenant (the tenant's list `list`, of `what`s), checked for
/// duplicates as they are collected.
fn collect_ids<'a, T>(
    items: &'a [T],
    id: impl Fn(&'a T) -> &'a str,
    tenant: &Loc,
    (list, what): (&'static str, &str),
    problems: &mut Problems,
) -> HashSet<&'a str> {
    let list = tenant.field(list);
    let mut ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let value = id(item);
        let at = || list.at(i).field("id");
        if value.trim().is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
            problems.add(at(), format!("invalid {what} id `{value}`"));
        } else if !ids.insert(value) {
            problems.add(at(), format!("duplicate {what} `{value}`"));
        }
    }
    ids
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

fn is_dial_string(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('*')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
}

/// The ids one tenant declares, each kind checked for duplicates as it was collected.
struct Ids<'a> {
    sites: HashSet<&'a str>,
    users: HashSet<&'a str>,
    queues: HashSet<&'a str>,
    roles: HashSet<&'a str>,
}

/// The extensions a tenant has: declared (with the owner the declaration names, if any), and
/// claimed by users.
struct Extensions<'a> {
    declared: HashMap<&'a str, Option<&'a str>>,
    claimed: HashMap<&'a str, &'a str>,
}

impl Extensions<'_> {
    fn contains(&self, ext: &str) -> bool {
        self.declared.contains_key(ext) || self.claimed.contains_key(ext)
    }
}

/// Validates one tenant, a section at a time. Each problem carries its path, and
/// [`Problems::into_error`] puts them in file order; the sections run in the order they need
/// (ids first, then what refers to them).
fn validate_tenant(t: &Tenant, path: &Loc, problems: &mut Problems) {
    check_tenant_fields(t, path, problems);
    let ids = collect_tenant_ids(t, path, problems);
    let numbers = check_numbers(t, path, problems);
    let exts = check_extensions(t, path, &ids, problems);
    check_number_links(t, path, &ids.sites, &exts, problems);
    let has_number = |n: E164, _: &str| numbers.contains(&n);
    if let Some(d) = &t.default_caller_id {
        check_owned(
            &|| path.field("default_caller_id"),
            d,
            &has_number,
            problems,
        );
    }
    check_queues(t, path, &ids, problems);
    check_roles(t, path, problems);
    check_feature_codes(t, path, &ids.roles, problems);
    let known = Known {
        custom_role: &|c| ids.roles.contains(c),
        site: &|s| ids.sites.contains(s),
        queue: &|q| ids.queues.contains(q),
        ext: &|e| exts.contains(e),
        number: &has_number,
    };
    for (i, u) in t.users.iter().enumerate() {
        // Spelled out only for a problem: this runs once per user.
        check_user_fields(u, &|| path.field("users").at(i), &known, problems);
    }
}

/// The tenant's own fields: its id and emergency numbers.
fn check_tenant_fields(t: &Tenant, path: &Loc, problems: &mut Problems) {
    if !is_slug(&t.id) {
        problems.add(
            path.field("id"),
            format!(
                "invalid tenant id `{}` (lowercase letters, digits, `-`, `_`, `.`)",
                t.id
            ),
        );
    }
    for (i, e) in t.emergency_numbers.iter().enumerate() {
        if e.is_empty() || e.len() > 15 || !e.bytes().all(|b| b.is_ascii_digit()) {
            problems.add(
                path.field("emergency_numbers").at(i),
                format!("invalid emergency number `{e}` (digits only)"),
            );
        }
    }
}

/// The ids of the tenant's sites, users, queues and custom roles, each well formed and unique.
fn collect_tenant_ids<'a>(t: &'a Tenant, path: &Loc, problems: &mut Problems) -> Ids<'a> {
    Ids {
        sites: collect_ids(&t.sites, |s| &s.id, path, ("sites", "site"), problems),
        users: collect_ids(&t.users, |u| &u.id, path, ("users", "user"), problems),
        queues: collect_ids(&t.queues, |q| &q.id, path, ("queues", "queue"), problems),
        roles: collect_ids(&t.roles, |r| &r.id, path, ("roles", "role"), problems),
    }
}

/// The tenant's numbers, each an E.164 number, none twice.
fn check_numbers(t: &Tenant, path: &Loc, problems: &mut Problems) -> HashSet<E164> {
    let mut numbers = HashSet::new();
    for (i, n) in t.numbers.iter().enumerate() {
        match E164::parse(&n.number) {
            Err(e) => problems.add(
                path.field("numbers").at(i).field("number"),
                format!("`{}` is not an E.164 number ({e})", n.number),
            ),
            Ok(parsed) => {
                if !numbers.insert(parsed) {
                    problems.add(
                        path.field("numbers").at(i).field("number"),
                        format!("duplicate number `{}`", n.number),
                    );
                }
            }
        }
    }
    numbers
}

/// Extensions: declared ones, and those users claim; one owner each.
fn check_extensions<'a>(
    t: &'a Tenant,
    path: &Loc,
    ids: &Ids<'_>,
    problems: &mut Problems,
) -> Extensions<'a> {
    let mut declared: HashMap<&str, Option<&str>> = HashMap::new();
    for (i, e) in t.extensions.iter().enumerate() {
        // Paths are only spelled out for a problem: this runs once per extension.
        let at = || path.field("extensions").at(i);
        if !is_dial_string(&e.ext) {
            problems.add(at().field("ext"), format!("invalid extension `{}`", e.ext));
        } else if declared.insert(e.ext.as_str(), e.user.as_deref()).is_some() {
            problems.add(
                at().field("ext"),
                format!("duplicate extension `{}`", e.ext),
            );
        }
        check_ref(
            &ids.sites,
            e.site.as_deref(),
            "site",
            || at().field("site"),
            problems,
        );
        check_ref(
            &ids.users,
            e.user.as_deref(),
            "user",
            || at().field("user"),
            problems,
        );
    }
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    for (i, u) in t.users.iter().enumerate() {
        for (j, ext) in u.extensions.iter().enumerate() {
            let at = || path.field("users").at(i).field("extensions").at(j);
            if !is_dial_string(ext) {
                problems.add(at(), format!("invalid extension `{ext}`"));
                continue;
            }
            if let Some(Some(owner)) = declared.get(ext.as_str())
                && *owner != u.id
            {
                problems.add(at(), format!("extension `{ext}` belongs to user `{owner}`"));
                continue;
            }
            if let Some(other) = claimed.insert(ext.as_str(), u.id.as_str())
                && other != u.id
            {
                problems.add(
                    at(),
                    format!("extension `{ext}` is also claimed by user `{other}`"),
                );
            }
        }
    }
    Extensions { declared, claimed }
}

/// What each number points at: a site and an extension the tenant has.
fn check_number_links(
    t: &Tenant,
    path: &Loc,
    sites: &HashSet<&str>,
    exts: &Extensions<'_>,
    problems: &mut Problems,
) {
    for (i, n) in t.numbers.iter().enumerate() {
        let at = || path.field("numbers").at(i);
        check_ref(
            sites,
            n.site.as_deref(),
            "site",
            || at().field("site"),
            problems,
        );
        if let Some(e) = &n.extension
            && !exts.contains(e)
        {
            problems.add(at().field("extension"), format!("unknown extension `{e}`"));
        }
    }
}

/// Queues: a dial string of their own (none twice), a known site, known agents and
/// supervisors.
fn check_queues(t: &Tenant, path: &Loc, ids: &Ids<'_>, problems: &mut Problems) {
    let mut queue_numbers = HashSet::new();
    for (i, q) in t.queues.iter().enumerate() {
        let at = path.field("queues").at(i);
        if let Some(n) = &q.number {
            if !is_dial_string(n) {
                problems.add(at.field("number"), format!("invalid queue number `{n}`"));
            } else if !queue_numbers.insert(n.as_str()) {
                problems.add(at.field("number"), format!("duplicate queue number `{n}`"));
            }
        }
        check_ref(
            &ids.sites,
            q.site.as_deref(),
            "site",
            || at.field("site"),
            problems,
        );
        for (j, a) in q.agents.iter().enumerate() {
            check_ref(
                &ids.users,
                Some(a),
                "user",
                || at.field("agents").at(j),
                problems,
            );
        }
        for (j, s) in q.supervisors.iter().enumerate() {
            check_ref(
                &ids.users,
                Some(s),
                "user",
                || at.field("supervisors").at(j),
                problems,
            );
        }
    }
}

/// Custom roles: not named as a built-in role, a known scope, known categories and actions.
fn check_roles(t: &Tenant, path: &Loc, problems: &mut Problems) {
    for (i, r) in t.roles.iter().enumerate() {
        let at = path.field("roles").at(i);
        if RoleId::by_name(&r.id).is_some() {
            problems.add(
                at.field("id"),
                format!("`{}` is a built-in role's name", r.id),
            );
        }
        if let Some(s) = &r.scope
            && s.parse::<Scope>().is_err()
        {
            problems.add(
                at.field("scope"),
                format!("unknown scope `{s}` (tenant, site, assigned, self, none)"),
            );
        }
        for (category, actions) in &r.permissions {
            if category.parse::<Category>().is_err() {
                problems.add(
                    at.field("permissions").key(category),
                    format!("unknown category `{category}`"),
                );
            }
            for (j, a) in actions.iter().enumerate() {
                if a.parse::<Action>().is_err() {
                    problems.add(
                        at.field("permissions").key(category).at(j),
                        format!("unknown action `{a}` (view, create, edit, delete, download)"),
                    );
                }
            }
        }
    }
}

/// Feature codes: well formed (none twice), a known feature, known roles.
fn check_feature_codes(t: &Tenant, path: &Loc, roles: &HashSet<&str>, problems: &mut Problems) {
    let mut codes = HashSet::new();
    for (i, f) in t.feature_codes.iter().enumerate() {
        let at = path.field("feature_codes").at(i);
        let well_formed = f.code.len() >= 2
            && f.code.len() <= 16
            && f.code.starts_with('*')
            && f.code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !well_formed {
            problems.add(
                at.field("code"),
                format!(
                    "invalid feature code `{}` (`*` then digits, `*`, `#`)",
                    f.code
                ),
            );
        } else if !codes.insert(f.code.as_str()) {
            problems.add(
                at.field("code"),
                format!("duplicate feature code `{}`", f.code),
            );
        }
        if f.feature != "disabled" && f.feature.parse::<FeatureKind>().is_err() {
            problems.add(
                at.field("feature"),
                format!("unknown feature `{}`", f.feature),
            );
        }
        for (j, role) in f.roles.iter().flatten().enumerate() {
            if RoleId::by_name(role).is_none() && !roles.contains(role.as_str()) {
                problems.add(at.field("roles").at(j), format!("unknown role `{role}`"));
            }
        }
    }
}

/// Puts user `u` into tenant `t` (valid, and in stored form: every list sorted by key), in
/// place of the user with the same id or as a new one, checking only what the user can make
/// invalid and normalizing only what it can change: the same result, and the same problems
/// (paths as for the tenant alone, `tenants[0].…`), as validating the whole tenant with the
/// user put in, at the cost of a few lookups instead of a pass over the tenant.
/// `tests/edits.rs` checks that equivalence on generated directories. On a problem, `t` is
/// left as it was.
pub fn put_user(
    t: &mut Tenant,
    mut u: crate::model::User,
    limits: &Limits,
) -> Result<(), DirectoryError> {
    let found = t.users.binary_search_by(|x| x.id.as_str().cmp(&u.id));
    // Where the whole-tenant path sees the user: in place, or appended.
    let index = match found {
        Ok(i) => i,
        Err(_) => t.users.len(),
    };
    let path = Loc::root("tenants").at(0).field("users").at(index);
    let mut problems = Problems::default();
    let mut sized = |len: usize, limit: usize, at: &dyn Fn() -> Loc| {
        if len > limit {
            problems.add(at(), too_many(len, limit));
        }
    };
    if found.is_err() {
        sized(t.users.len() + 1, limits.users, &|| {
            Loc::root("tenants").at(0).field("users")
        });
    }
    user_lists(&u, &mut |len, field| {
        sized(len, limits.list, &|| path.fields(field));
    });
    if !problems.0.is_empty() {
        return Err(problems.into_error(limits));
    }
    check_user(t, &u, &path, &mut problems);
    if !problems.0.is_empty() {
        return Err(problems.into_error(limits));
    }

    // Normalized as the whole tenant would be: the extensions the user lists are theirs
    // (declared for them, at their site, if the tenant does not declare them yet), and so
    // are the ones that already name them.
    for ext in &u.extensions {
        match t.extensions.binary_search_by(|e| e.ext.as_str().cmp(ext)) {
            Ok(i) => {
                if let Some(e) = t.extensions.get_mut(i) {
                    e.user = Some(u.id.clone());
                }
            }
            Err(i) => t.extensions.insert(
                i,
                crate::model::Extension {
                    ext: ext.clone(),
                    site: u.site.clone(),
                    user: Some(u.id.clone()),
                },
            ),
        }
    }
    u.extensions = t
        .extensions
        .iter()
        .filter(|e| e.user.as_deref() == Some(u.id.as_str()))
        .map(|e| e.ext.clone())
        .collect();
    if u.status.as_deref() == Some("active") {
        u.status = None;
    }
    u.sort_lists();
    match found {
        Ok(i) => {
            if let Some(slot) = t.users.get_mut(i) {
                *slot = u;
            }
        }
        Err(i) => t.users.insert(i, u),
    }
    Ok(())
}

/// The checks [`validate_tenant`] makes of one user, against a valid tenant in stored form
/// that the user is being put into (lookups by binary search in its sorted lists).
fn check_user(t: &Tenant, u: &crate::model::User, path: &Loc, problems: &mut Problems) {
    fn has<T>(list: &[T], key: &str, of: impl Fn(&T) -> &str) -> bool {
        list.binary_search_by(|x| of(x).cmp(key)).is_ok()
    }
    let at = || path.clone();
    let id = u.id.as_str();
    if id.trim().is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        problems.add(at().field("id"), format!("invalid user id `{id}`"));
    }
    let declared = |ext: &str| {
        t.extensions
            .binary_search_by(|e| e.ext.as_str().cmp(ext))
            .ok()
            .and_then(|i| t.extensions.get(i))
    };
    for (j, ext) in u.extensions.iter().enumerate() {
        let at = || path.field("extensions").at(j);
        if !is_dial_string(ext) {
            problems.add(at(), format!("invalid extension `{ext}`"));
            continue;
        }
        if let Some(owner) = declared(ext).and_then(|e| e.user.as_deref())
            && owner != u.id
        {
            problems.add(at(), format!("extension `{ext}` belongs to user `{owner}`"));
        }
    }
    // A claim the checks above refused does not make an extension known.
    let known_ext = |e: &str| {
        declared(e).is_some() || (is_dial_string(e) && u.extensions.iter().any(|x| x == e))
    };
    let known = Known {
        custom_role: &|c| has(&t.roles, c, |r| &r.id),
        site: &|s| has(&t.sites, s, |x| &x.id),
        queue: &|q| has(&t.queues, q, |x| &x.id),
        ext: &known_ext,
        // Stored numbers are `+` and digits, one spelling per number: text finds them.
        number: &|_, text| has(&t.numbers, text, |n| &n.number),
    };
    check_user_fields(u, &at, &known, problems);
}

/// What a user's fields may name, as the tenant they are checked against has it.
struct Known<'a> {
    custom_role: &'a dyn Fn(&str) -> bool,
    site: &'a dyn Fn(&str) -> bool,
    queue: &'a dyn Fn(&str) -> bool,
    ext: &'a dyn Fn(&str) -> bool,
    /// A number (parsed, and as written) the tenant has.
    number: &'a dyn Fn(E164, &str) -> bool,
}

/// Refuses `value` unless it is an E.164 number the tenant has.
fn check_owned(
    field: &dyn Fn() -> Loc,
    value: &str,
    has: &dyn Fn(E164, &str) -> bool,
    problems: &mut Problems,
) {
    match E164::parse(value) {
        Err(e) => problems.add(field(), format!("`{value}` is not an E.164 number ({e})")),
        Ok(n) if !has(n, value) => problems.add(
            field(),
            format!("number `{value}` is not one of the tenant's numbers"),
        ),
        Ok(_) => {}
    }
}

/// The checks of a user's own fields (all but their id and their extension claims), against
/// what the tenant has: the same for a whole tenant ([`validate_tenant`]) and for one user
/// put into a stored one ([`put_user`]); only the lookups differ.
fn check_user_fields(
    u: &crate::model::User,
    at: &dyn Fn() -> Loc,
    known: &Known<'_>,
    problems: &mut Problems,
) {
    if RoleId::by_name(&u.role).is_none() {
        problems.add(at().field("role"), format!("unknown role `{}`", u.role));
    }
    if let Some(c) = &u.custom_role
        && !(known.custom_role)(c)
    {
        problems.add(
            at().field("custom_role"),
            format!("unknown custom role `{c}`"),
        );
    }
    if let Some(s) = &u.site
        && !(known.site)(s)
    {
        problems.add(at().field("site"), format!("unknown site `{s}`"));
    }
    if let Some(d) = &u.default_caller_id {
        check_owned(
            &|| at().field("default_caller_id"),
            d,
            known.number,
            problems,
        );
    }
    match u.status.as_deref() {
        None | Some("active") | Some("suspended") => {}
        Some(s) => problems.add(
            at().field("status"),
            format!("unknown status `{s}` (active, suspended)"),
        ),
    }
    let g = &u.grants;
    for (j, e) in g.extensions.iter().enumerate() {
        if !(known.ext)(e) {
            problems.add(
                at().field("grants").field("extensions").at(j),
                format!("unknown extension `{e}`"),
            );
        }
    }
    for (j, q) in g.queues.iter().enumerate() {
        if !(known.queue)(q) {
            problems.add(
                at().field("grants").field("queues").at(j),
                format!("unknown queue `{q}`"),
            );
        }
    }
    for (j, n) in g.numbers.iter().enumerate() {
        check_owned(
            &|| at().field("grants").field("numbers").at(j),
            n,
            known.number,
            problems,
        );
    }
    for (j, f) in g.features.iter().enumerate() {
        if catalog::feature_toggle(f).is_none() {
            let toggles: Vec<&str> = catalog::FEATURE_TOGGLES.iter().map(|t| t.name).collect();
            problems.add(
                at().field("grants").field("features").at(j),
                format!("unknown feature `{f}` ({})", toggles.join(", ")),
            );
        }
    }
}

/// `at` makes the problem's path, only when there is a problem.
fn check_ref(
    known: &HashSet<&str>,
    value: Option<&str>,
    what: &str,
    at: impl FnOnce() -> Loc,
    problems: &mut Problems,
) {
    if let Some(v) = value
        && !known.contains(v)
    {
        problems.add(at(), format!("unknown {what} `{v}`"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CustomRole, Extension, FeatureCode, Grants, Number, Queue, Site, User};

    /// The fields serde knows for `T`, in declaration order (what it lists for an unknown one).
    fn fields<T: serde::de::DeserializeOwned>() -> Vec<String> {
        let Err(e) = serde_json::from_str::<T>(r#"{"~": 0}"#) else {
            return Vec::new();
        };
        let text = e.to_string();
        let list = text
            .split("expected ")
            .nth(1)
            .unwrap_or("")
            .trim_start_matches("one of ");
        list.split(", ")
            .map(|f| f.split('`').nth(1).unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn field_order_is_the_models_declaration_order() {
        let expected = [
            ("tenants", fields::<Tenant>()),
            ("sites", fields::<Site>()),
            ("numbers", fields::<Number>()),
            ("extensions", fields::<Extension>()),
            ("queues", fields::<Queue>()),
            ("roles", fields::<CustomRole>()),
            ("feature_codes", fields::<FeatureCode>()),
            ("users", fields::<User>()),
            ("grants", fields::<Grants>()),
        ];
        for ((parent, order), (want_parent, want)) in FIELD_ORDER.iter().zip(&expected) {
            assert_eq!(parent, want_parent);
            assert_eq!(order.to_vec(), *want, "{parent}");
        }
    }

    #[test]
    fn problems_sort_in_file_order() {
        let paths = [
            "tenants[1].id",
            "tenants[0].users[10].role",
            "tenants[0].users[2].grants.numbers[0]",
            "tenants[0].users[2].role",
            "tenants[0].default_caller_id",
            "tenants[0].roles[0].permissions.voicemail[0]",
            "tenants[0].roles[0].permissions.billing",
        ];
        // The same paths as the checks build them.
        let tenant = |i| Loc::root("tenants").at(i);
        let user = |i| tenant(0).field("users").at(i);
        let role = tenant(0).field("roles").at(0).field("permissions");
        let mut locs = [
            tenant(1).field("id"),
            user(10).field("role"),
            user(2).fields(&["grants", "numbers"]).at(0),
            user(2).field("role"),
            tenant(0).field("default_caller_id"),
            role.key("voicemail").at(0),
            role.key("billing"),
        ];
        for (loc, path) in locs.iter().zip(&paths) {
            assert_eq!(loc.spelled(), *path);
        }
        locs.sort_by(|a, b| a.order().cmp(b.order()));
        let sorted: Vec<String> = locs.iter().map(Loc::spelled).collect();
        assert_eq!(
            sorted,
            [
                "tenants[0].default_caller_id",
                "tenants[0].roles[0].permissions.billing",
                "tenants[0].roles[0].permissions.voicemail[0]",
                "tenants[0].users[2].role",
                "tenants[0].users[2].grants.numbers[0]",
                "tenants[0].users[10].role",
                "tenants[1].id",
            ]
        );
    }
}
