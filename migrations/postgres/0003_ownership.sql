-- A number belongs to one tenant: the store refuses a write that would give a number one
-- tenant holds to another (with the number and its path), and this index makes sure of it.
-- A store that already has a number in two tenants fails this migration, naming the number:
-- give it to one of them (`callgate export`, edit, `callgate import`), then start again.
CREATE UNIQUE INDEX numbers_number ON numbers (number);

-- Tenant incarnations: when a tenant id that an earlier, deleted tenant had is created
-- again, the earlier tenant's change log and audit rows move to the tenant `ID~R` (R: the
-- revision that deleted it; `~` is never in a tenant id), so the new tenant cannot read the
-- old one's history. One row per such move.
CREATE TABLE tenant_incarnations (
    -- The tenant id.
    tenant TEXT COLLATE "C" NOT NULL,
    -- The revision that deleted the earlier tenant.
    ended_revision BIGINT NOT NULL,
    -- Where its rows are now (`changes.tenant`, `audit.tenant`).
    archived_as TEXT COLLATE "C" NOT NULL,
    -- The revision that created the new one (and moved them).
    archived_revision BIGINT NOT NULL,
    PRIMARY KEY (tenant, ended_revision)
);

-- A tenant's change log rows, found without a scan (moved on re-creation; the audit query).
CREATE INDEX changes_tenant ON changes (tenant, revision);

-- Tenants deleted and created again before this migration: the rows up to the last deletion
-- (audit rows up to its time) move as above.
INSERT INTO tenant_incarnations (tenant, ended_revision, archived_as, archived_revision)
SELECT tenant, MAX(revision), tenant || '~' || MAX(revision), (SELECT revision FROM meta WHERE id = 1)
FROM changes
WHERE kind = 'delete' AND tenant IN (SELECT id FROM tenants)
GROUP BY tenant;

UPDATE audit AS a
SET tenant = i.archived_as
FROM tenant_incarnations i JOIN changes c ON c.revision = i.ended_revision
WHERE a.tenant = i.tenant AND a.at_ms <= CAST(EXTRACT(EPOCH FROM c.at) * 1000 AS BIGINT);

UPDATE changes AS c
SET tenant = i.archived_as
FROM tenant_incarnations i
WHERE c.tenant = i.tenant AND c.revision <= i.ended_revision;
