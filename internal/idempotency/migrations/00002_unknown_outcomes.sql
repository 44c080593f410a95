-- Unknown outcomes and their resolution (issue 15): a record whose call may
-- have been applied without an answer is UNKNOWN until the service's
-- reconciler or an operator resolves it APPLIED (its response recorded, or
-- rebuilt by the service) or NOT_APPLIED; every resolution is kept, with who
-- made it. The request itself is kept beside the record, so that a
-- reconciler can ask the vendor about it and an operator can see what it
-- was. Tables, not columns, since every service sharing a schema runs this
-- migration under its own version table, and SQLite has no ADD COLUMN IF
-- NOT EXISTS.

-- +goose Up
UPDATE idempotency_records SET state = 'UNKNOWN' WHERE state = 'INTERRUPTED';
CREATE INDEX IF NOT EXISTS idempotency_records_state ON idempotency_records (service, state, created_at);

CREATE TABLE IF NOT EXISTS idempotency_requests (
    service     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    request     TEXT NOT NULL,   -- base64 of the request's protobuf encoding, '' when not a message
    note        TEXT NOT NULL,   -- why the outcome is unknown, for the operator
    PRIMARY KEY (service, request_id)
);

CREATE TABLE IF NOT EXISTS idempotency_resolutions (
    service     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    outcome     TEXT NOT NULL,   -- APPLIED or NOT_APPLIED
    resolved_by TEXT NOT NULL,   -- "reconciler", or the operator's caller name
    note        TEXT NOT NULL,   -- how they know
    resolved_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_resolutions_record ON idempotency_resolutions (service, request_id, resolved_at);

-- +goose Down
DROP TABLE IF EXISTS idempotency_resolutions;
DROP TABLE IF EXISTS idempotency_requests;
DROP INDEX IF EXISTS idempotency_records_state;
UPDATE idempotency_records SET state = 'INTERRUPTED' WHERE state = 'UNKNOWN';
