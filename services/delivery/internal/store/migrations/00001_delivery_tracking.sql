-- The orders the service follows, their status changes and the raw status
-- pushes the vendor sent. Written once for SQLite and Postgres: TEXT and
-- BIGINT only, times in unix milliseconds.

-- +goose Up
CREATE TABLE delivery_orders (
    origin_id      TEXT PRIMARY KEY,     -- the caller's order id (vendor: origin_id)
    callback_token TEXT UNIQUE,          -- the secret in the order's callback URL; NULL when none was sent
    raw_status     TEXT NOT NULL DEFAULT '', -- the last order_status recorded ('' before the first)
    last_event     BIGINT NOT NULL DEFAULT 0, -- the event_id of the last recorded change
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE delivery_order_events (
    origin_id  TEXT NOT NULL,            -- the order
    event_id   BIGINT NOT NULL,          -- numbers the order's events from 1
    raw_status TEXT NOT NULL,            -- order_status after the change
    snapshot   TEXT NOT NULL,            -- the order as read from the vendor (JSON)
    source     TEXT NOT NULL,            -- PUSH, POLL or READ
    created_at BIGINT NOT NULL,
    PRIMARY KEY (origin_id, event_id)
);

CREATE TABLE delivery_pushes (
    id           TEXT PRIMARY KEY,       -- random
    origin_id    TEXT NOT NULL,          -- the order whose token the push carried
    content_type TEXT NOT NULL,          -- as sent
    payload      TEXT NOT NULL,          -- the body as sent, base64 (it may be any bytes)
    received_at  BIGINT NOT NULL
);

CREATE INDEX delivery_pushes_order ON delivery_pushes (origin_id, received_at);

-- +goose Down
DROP TABLE delivery_pushes;
DROP TABLE delivery_order_events;
DROP TABLE delivery_orders;
