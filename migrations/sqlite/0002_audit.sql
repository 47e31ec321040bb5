-- The audit trail: admin changes (written in the same transaction as the change) and
-- call-time decisions (every denial, sampled allows; written in batches). No foreign keys:
-- a row outlives the tenant, user, role or number it mentions.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    principal TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    revision INTEGER NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_tenant_at ON audit (tenant, at_ms);
CREATE INDEX audit_at ON audit (at_ms);
