//! Shared by the engine's integration tests: the demo directory, loaded.

use callgate::{Table, Tenant, directory};

/// The demo directory's tenants, validated.
pub fn tenants() -> Vec<Tenant> {
    directory::parse(include_str!("../../examples/demo.yaml")).expect("the demo directory is valid")
}

/// A table holding `tenants` at revision 1.
pub fn table_of(tenants: &[Tenant]) -> Table {
    let table = Table::new();
    table.replace_all(tenants, 1);
    table
}

/// The demo directory in a table.
pub fn table() -> Table {
    table_of(&tenants())
}

/// The tenants of a YAML text (panics with the problems if invalid).
pub fn parse(yaml: &str) -> Vec<Tenant> {
    match directory::parse(yaml) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}
