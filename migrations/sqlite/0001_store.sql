-- callgate's store (SQLite): the directory model, one table per kind of thing, every row
-- keyed by its tenant first; the change log; the current revision; admin tokens.
--
-- Only ownership is enforced by foreign keys (a row belongs to its tenant, an agent row to
-- its queue, ...), so deleting a tenant removes everything it owns. References between a
-- tenant's things (a user's site, an extension's owner, ...) are checked by the engine's
-- validation before anything is written.

-- The latest revision: one row, bumped by every write transaction (under the writer lock).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 0)
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- One row per revision: which tenant it wrote (`put`) or removed (`delete`), and who did.
CREATE TABLE changes (
    revision INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('put', 'delete')),
    actor TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- JSON, for the audit trail.
    detail TEXT
);

-- Admin tokens: only the SHA-256 of the secret is kept. `tenant` NULL = every tenant.
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    tenant TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    default_caller_id TEXT
) WITHOUT ROWID;

CREATE TABLE tenant_emergency_numbers (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dial TEXT NOT NULL,
    PRIMARY KEY (tenant, dial)
) WITHOUT ROWID;

CREATE TABLE sites (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE numbers (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    site TEXT,
    extension TEXT,
    emergency_callback INTEGER NOT NULL CHECK (emergency_callback IN (0, 1)),
    PRIMARY KEY (tenant, number)
) WITHOUT ROWID;

CREATE TABLE extensions (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    site TEXT,
    user_id TEXT,
    PRIMARY KEY (tenant, ext)
) WITHOUT ROWID;

CREATE TABLE queues (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    number TEXT,
    site TEXT,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE queue_agents (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (tenant, queue, user_id),
    FOREIGN KEY (tenant, queue) REFERENCES queues (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE queue_supervisors (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (tenant, queue, user_id),
    FOREIGN KEY (tenant, queue) REFERENCES queues (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Custom roles. `scope` NULL = the format's default (tenant).
CREATE TABLE roles (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    description TEXT,
    scope TEXT,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- A custom role's matrix: one row per (category, action) it grants.
CREATE TABLE role_permissions (
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (tenant, role, category, action),
    FOREIGN KEY (tenant, role) REFERENCES roles (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- `restricted`: whether the entry names the roles allowed to use it (the format's `roles`
-- present, even empty); the roles are the rows of feature_code_roles.
CREATE TABLE feature_codes (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    feature TEXT NOT NULL,
    restricted INTEGER NOT NULL CHECK (restricted IN (0, 1)),
    PRIMARY KEY (tenant, code)
) WITHOUT ROWID;

CREATE TABLE feature_code_roles (
    tenant TEXT NOT NULL,
    code TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (tenant, code, role),
    FOREIGN KEY (tenant, code) REFERENCES feature_codes (tenant, code) ON DELETE CASCADE
) WITHOUT ROWID;

-- A user's owned extensions are the extensions rows whose user_id is theirs.
CREATE TABLE users (
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    custom_role TEXT,
    site TEXT,
    default_caller_id TEXT,
    status TEXT,
    full_call_report_access INTEGER NOT NULL CHECK (full_call_report_access IN (0, 1)),
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- A user's explicit grants: one row per extension, queue, number or feature given.
CREATE TABLE user_grants (
    tenant TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('extension', 'queue', 'number', 'feature')),
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id, kind, value),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
