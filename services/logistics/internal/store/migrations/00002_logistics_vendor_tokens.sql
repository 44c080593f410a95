-- A login-token vendor's current token (damaijia's access_token), shared
-- by the replicas: the one that logs in stores it here under a lock that
-- spans replicas, the others read it instead of logging in themselves.

-- +goose Up
CREATE TABLE logistics_vendor_tokens (
    vendor      TEXT PRIMARY KEY,  -- e.g. damaijia
    token       TEXT NOT NULL,     -- a secret: never logged
    obtained_at BIGINT NOT NULL    -- unix milliseconds
);

-- +goose Down
DROP TABLE logistics_vendor_tokens;
