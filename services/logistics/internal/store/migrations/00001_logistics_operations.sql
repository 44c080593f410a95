-- One row per 30post money movement, written before the vendor is called:
-- a row in state PENDING is a call that has not answered (or whose process
-- died while it was out). Written once for SQLite and Postgres: TEXT and
-- BIGINT only, times in unix milliseconds.

-- +goose Up
CREATE TABLE logistics_operations (
    request_id     TEXT PRIMARY KEY,   -- the caller's idempotency key
    kind           TEXT NOT NULL,      -- RECHARGE or DEDUCTION
    phone          TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    amount         TEXT NOT NULL,      -- decimal string as sent
    express_no     TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,      -- PENDING, SUCCEEDED, FAILED, UNKNOWN, APPLIED, NOT_APPLIED
    vendor_message TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,    -- recorded, before the call
    finished_at    BIGINT              -- the vendor's answer, or the call's failure
);

CREATE INDEX logistics_operations_state ON logistics_operations (state, created_at, request_id);

-- Every operator resolution of an UNKNOWN operation, kept; the last decides.
CREATE TABLE logistics_resolutions (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES logistics_operations (request_id),
    outcome     TEXT NOT NULL,         -- APPLIED or NOT_APPLIED
    note        TEXT NOT NULL,
    resolved_at BIGINT NOT NULL
);

CREATE INDEX logistics_resolutions_request ON logistics_resolutions (request_id, resolved_at);

-- +goose Down
DROP TABLE logistics_resolutions;
DROP TABLE logistics_operations;
