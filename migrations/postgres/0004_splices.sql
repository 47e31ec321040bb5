-- What a one-entity write changed, entity by entity (callgate::edit::Splice, JSON), and the
-- revision of the tenant's change before it (what it was made to): another daemon following
-- the log patches its compiled tenant with it instead of reading the whole tenant. NULL for
-- an import, a new tenant or a deletion.
ALTER TABLE changes ADD COLUMN base BIGINT;
ALTER TABLE changes ADD COLUMN splice TEXT;
