-- Each running replica of a service, refreshed every few seconds, so that a
-- per-caller request rate can be shared out among the replicas alive.

-- +goose Up
CREATE TABLE IF NOT EXISTS usage_replicas (
    service  TEXT NOT NULL,
    replica  TEXT NOT NULL,     -- random id of one process
    seen_at  BIGINT NOT NULL,   -- unix milliseconds of its last heartbeat
    PRIMARY KEY (service, replica)
);

-- +goose Down
DROP TABLE IF EXISTS usage_replicas;
