-- The usage ledger: one row per vendor call, written in batches off the
-- hot path; and the spend of paid calls, written before the call so that a
-- daily cap holds across replicas. Shared by every service using the
-- database (IF NOT EXISTS: each service runs this migration).

-- +goose Up
CREATE TABLE IF NOT EXISTS usage_calls (
    id          TEXT PRIMARY KEY,   -- random
    service     TEXT NOT NULL,      -- e.g. vehicle
    vendor      TEXT NOT NULL,      -- e.g. maintenance
    endpoint    TEXT NOT NULL,      -- e.g. /maintenance_report/order
    caller      TEXT NOT NULL,      -- auth caller; "" for the service's own background work
    request_id  TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,      -- ok, or the failure reason
    latency_ms  BIGINT NOT NULL,
    cost_fen    BIGINT NOT NULL,    -- unit cost, when the call was paid for (outcome ok)
    at          BIGINT NOT NULL     -- unix milliseconds
);

CREATE INDEX IF NOT EXISTS usage_calls_service_at ON usage_calls (service, at);

CREATE TABLE IF NOT EXISTS usage_spend (
    id        TEXT PRIMARY KEY,
    service   TEXT NOT NULL,
    caller    TEXT NOT NULL,
    day       TEXT NOT NULL,        -- China day, 2006-01-02
    cost_fen  BIGINT NOT NULL,
    at        BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS usage_spend_caller_day ON usage_spend (service, caller, day);

-- +goose Down
DROP TABLE IF EXISTS usage_spend;
DROP TABLE IF EXISTS usage_calls;
