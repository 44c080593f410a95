-- Callers and their API keys managed with vendorgate-admin, shared by every
-- service and replica using the database. Keys are kept only as hashes.
-- IF NOT EXISTS: services sharing one schema each run this migration.

-- +goose Up
CREATE TABLE IF NOT EXISTS auth_callers (
    name                 TEXT PRIMARY KEY,
    allow                TEXT NOT NULL,      -- RPC patterns, one per line
    rate_per_second      TEXT NOT NULL DEFAULT '0',
    daily_spend_cap_yuan TEXT NOT NULL DEFAULT '',
    updated_at           BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_keys (
    hash       TEXT PRIMARY KEY,              -- sha256:<hex>
    caller     TEXT NOT NULL REFERENCES auth_callers (name),
    created_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS auth_keys_caller ON auth_keys (caller, created_at);

-- +goose Down
DROP TABLE IF EXISTS auth_keys;
DROP TABLE IF EXISTS auth_callers;
