-- The audit trail: admin changes (written in the same transaction as the change) and
-- call-time decisions (every denial, sampled allows; written in batches). No foreign keys:
-- a row outlives the tenant, user, role or number it mentions.
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    tenant TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_tenant_at ON audit (tenant, at_ms);
CREATE INDEX audit_at ON audit (at_ms);
