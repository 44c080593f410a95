-- One row per report purchase, from the moment it starts: a row in state
-- BUYING without an order_id is a purchase whose vendor call has not
-- answered (or whose process died while it was out). Written once for
-- SQLite and Postgres: TEXT and BIGINT only, times in unix milliseconds.

-- +goose Up
CREATE TABLE vehicle_orders (
    id            TEXT PRIMARY KEY,         -- our id for the purchase
    order_id      TEXT UNIQUE,              -- the vendor's orderId; NULL while BUYING
    vin           TEXT NOT NULL,            -- normalised VIN
    engine_number TEXT NOT NULL DEFAULT '',
    plate_number  TEXT NOT NULL DEFAULT '',
    request_id    TEXT UNIQUE,              -- the caller's idempotency key; NULL when none
    state         TEXT NOT NULL,            -- BUYING, PENDING, READY, NO_RECORDS, UNKNOWN (no answer: may have been sold)
    report_json   TEXT,                     -- maintenance_report/get's answer as sent, once READY or NO_RECORDS
    created_at    BIGINT NOT NULL,          -- purchase started
    bought_at     BIGINT,                   -- vendor confirmed the purchase
    ready_at      BIGINT                    -- report first seen READY or NO_RECORDS
);

CREATE INDEX vehicle_orders_vin ON vehicle_orders (vin, bought_at);

-- +goose Down
DROP TABLE vehicle_orders;
