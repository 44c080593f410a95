-- The template ids this service has sent to Fadada (uploadtemplate.api). A
-- template cannot be read back, so a re-send that meets 2507 模板号重复 is a
-- success only when the id is in this table: the duplicate is our own. Kept
-- in the database so that it survives a restart and every replica sees it.
-- Written once for SQLite and Postgres: TEXT and BIGINT only, times in unix
-- milliseconds.

-- +goose Up
CREATE TABLE esign_templates_sent (
    template_id TEXT PRIMARY KEY,   -- the caller's template_id, as sent
    sent_at     BIGINT NOT NULL     -- first send started
);

-- +goose Down
DROP TABLE esign_templates_sent;
