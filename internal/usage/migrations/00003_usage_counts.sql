-- Free calls that carry no request_id (reads, mostly) are counted, per
-- vendor, endpoint, caller, outcome and second, instead of taking a row
-- each in usage_calls: no resolution or audit looks one of them up, and a
-- row per read was most of the ledger's cost on SQLite. Shared by every
-- service using the database (IF NOT EXISTS: each service runs this
-- migration).

-- +goose Up
CREATE TABLE IF NOT EXISTS usage_counts (
    id          TEXT PRIMARY KEY,   -- time-ordered, as usage_calls'
    service     TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    caller      TEXT NOT NULL,
    outcome     TEXT NOT NULL,      -- ok, or the failure reason
    calls       BIGINT NOT NULL,    -- how many calls this row counts
    latency_ms  BIGINT NOT NULL,    -- their latencies' sum
    at          BIGINT NOT NULL     -- unix milliseconds of the first of them
);

CREATE INDEX IF NOT EXISTS usage_counts_service_at ON usage_counts (service, at);

-- +goose Down
DROP TABLE IF EXISTS usage_counts;
