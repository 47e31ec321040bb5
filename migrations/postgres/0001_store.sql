-- callgate's store (Postgres): the directory model, one table per kind of thing, every row
-- keyed by its tenant first; the change log; the current revision; admin tokens.
--
-- Text is compared byte by byte (COLLATE "C"), as in SQLite.
--
-- Only ownership is enforced by foreign keys (a row belongs to its tenant, an agent row to
-- its queue, ...), so deleting a tenant removes everything it owns. References between a
-- tenant's things (a user's site, an extension's owner, ...) are checked by the engine's
-- validation before anything is written.

-- The latest revision: one row, bumped by every write transaction (under the writer lock).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL CHECK (revision >= 0)
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- One row per revision: which tenant it wrote (`put`) or removed (`delete`), and who did.
CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('put', 'delete')),
    actor TEXT COLLATE "C" NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- JSON, for the audit trail.
    detail TEXT COLLATE "C"
);

-- Admin tokens: only the SHA-256 of the secret is kept. `tenant` NULL = every tenant.
CREATE TABLE tokens (
    name TEXT COLLATE "C" PRIMARY KEY,
    secret_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    tenant TEXT COLLATE "C",
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    default_caller_id TEXT COLLATE "C"
);

CREATE TABLE tenant_emergency_numbers (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dial TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, dial)
);

CREATE TABLE sites (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE numbers (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    number TEXT COLLATE "C" NOT NULL,
    site TEXT COLLATE "C",
    extension TEXT COLLATE "C",
    emergency_callback BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, number)
);

CREATE TABLE extensions (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ext TEXT COLLATE "C" NOT NULL,
    site TEXT COLLATE "C",
    user_id TEXT COLLATE "C",
    PRIMARY KEY (tenant, ext)
);

CREATE TABLE queues (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    number TEXT COLLATE "C",
    site TEXT COLLATE "C",
    PRIMARY KEY (tenant, id)
);

CREATE TABLE queue_agents (
    tenant TEXT COLLATE "C" NOT NULL,
    queue TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, queue, user_id),
    FOREIGN KEY (tenant, queue) REFERENCES queues (tenant, id) ON DELETE CASCADE
);

CREATE TABLE queue_supervisors (
    tenant TEXT COLLATE "C" NOT NULL,
    queue TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, queue, user_id),
    FOREIGN KEY (tenant, queue) REFERENCES queues (tenant, id) ON DELETE CASCADE
);

-- Custom roles. `scope` NULL = the format's default (tenant).
CREATE TABLE roles (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    scope TEXT COLLATE "C",
    PRIMARY KEY (tenant, id)
);

-- A custom role's matrix: one row per (category, action) it grants.
CREATE TABLE role_permissions (
    tenant TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, role, category, action),
    FOREIGN KEY (tenant, role) REFERENCES roles (tenant, id) ON DELETE CASCADE
);

-- `restricted`: whether the entry names the roles allowed to use it (the format's `roles`
-- present, even empty); the roles are the rows of feature_code_roles.
CREATE TABLE feature_codes (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code TEXT COLLATE "C" NOT NULL,
    feature TEXT COLLATE "C" NOT NULL,
    restricted BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, code)
);

CREATE TABLE feature_code_roles (
    tenant TEXT COLLATE "C" NOT NULL,
    code TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, code, role),
    FOREIGN KEY (tenant, code) REFERENCES feature_codes (tenant, code) ON DELETE CASCADE
);

-- A user's owned extensions are the extensions rows whose user_id is theirs.
CREATE TABLE users (
    tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    custom_role TEXT COLLATE "C",
    site TEXT COLLATE "C",
    default_caller_id TEXT COLLATE "C",
    status TEXT COLLATE "C",
    full_call_report_access BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- A user's explicit grants: one row per extension, queue, number or feature given.
CREATE TABLE user_grants (
    tenant TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('extension', 'queue', 'number', 'feature')),
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, user_id, kind, value),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
