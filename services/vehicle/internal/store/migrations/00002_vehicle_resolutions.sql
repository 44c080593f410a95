-- Operators' findings about purchases of unknown outcome, and a request id
-- on every purchase that may need one (the operator RPCs name purchases by
-- it). Written once for SQLite and Postgres.

-- +goose Up
CREATE TABLE vehicle_resolutions (
    id          TEXT PRIMARY KEY,        -- our id for the resolution
    purchase_id TEXT NOT NULL,           -- vehicle_orders.id
    outcome     TEXT NOT NULL,           -- APPLIED or NOT_APPLIED
    order_id    TEXT NOT NULL DEFAULT '',-- the vendor's orderId the operator gave, for APPLIED
    note        TEXT NOT NULL,           -- how the operator knows
    resolved_at BIGINT NOT NULL          -- unix milliseconds
);

CREATE INDEX vehicle_resolutions_purchase ON vehicle_resolutions (purchase_id, resolved_at);
CREATE INDEX vehicle_orders_state ON vehicle_orders (state, created_at);

-- Purchases left unanswered before this version had no request id when a
-- lookup made them: give them the one lookups now get.
UPDATE vehicle_orders SET request_id = 'lookup-' || id
WHERE request_id IS NULL AND state IN ('BUYING', 'UNKNOWN');

-- +goose Down
DROP INDEX vehicle_orders_state;
DROP TABLE vehicle_resolutions;
