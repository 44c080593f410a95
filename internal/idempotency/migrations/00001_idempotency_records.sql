-- One row per request_id a service has seen (AIP-155), shared by every
-- service and replica using the database: a row in state IN_FLIGHT is a
-- call under way, or one whose process died while it was out. Written once
-- for SQLite and Postgres: TEXT and BIGINT only, times in unix milliseconds.
-- IF NOT EXISTS: services sharing one schema each run this migration.

-- +goose Up
CREATE TABLE IF NOT EXISTS idempotency_records (
    service     TEXT NOT NULL,     -- e.g. delivery
    request_id  TEXT NOT NULL,     -- the caller's idempotency key
    method      TEXT NOT NULL,     -- the RPC it was first used with
    fingerprint TEXT NOT NULL,     -- SHA-256 of the request without its request_id
    state       TEXT NOT NULL,     -- IN_FLIGHT, DONE, INTERRUPTED
    response    TEXT NOT NULL DEFAULT '', -- the first response, base64 of its protobuf encoding, once DONE
    created_at  BIGINT NOT NULL,   -- first seen
    finished_at BIGINT,            -- DONE or INTERRUPTED
    PRIMARY KEY (service, request_id)
);

CREATE INDEX IF NOT EXISTS idempotency_records_created ON idempotency_records (service, created_at);

-- +goose Down
DROP TABLE IF EXISTS idempotency_records;
