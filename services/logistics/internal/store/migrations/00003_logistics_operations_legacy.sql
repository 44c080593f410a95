-- Issue 15: money movements moved onto the one at-most-once engine
-- (internal/idempotency, tables idempotency_*). The old tables are renamed,
-- never written again, and read once at start-up: billing imports their
-- unresolved movements (UNKNOWN, and PENDING ones, whose process died with
-- the call out) as unknown outcomes of the engine, and their applied
-- movements still within REQUEST_ID_TTL as recorded answers, so that no
-- repeat across the upgrade re-sends a movement; each imported row is then
-- deleted here. What stays is history (refused and resolved movements),
-- read by nothing.

-- +goose Up
ALTER TABLE logistics_operations RENAME TO logistics_legacy_operations;
ALTER TABLE logistics_resolutions RENAME TO logistics_legacy_resolutions;

-- +goose Down
ALTER TABLE logistics_legacy_resolutions RENAME TO logistics_resolutions;
ALTER TABLE logistics_legacy_operations RENAME TO logistics_operations;
