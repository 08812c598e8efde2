-- Who created and revoked each API key, and the desk's server-side sessions (issue 16, F7 and F8).
--
-- `created_by` / `revoked_by`: the admin key (`key <key_id> (<name>)`) or the command line
-- (`cli <user>`) that did it; NULL for keys from before this migration.
--
-- A desk session: the pages' login cookie holds a random session token, never the API key;
-- only the token's SHA-256 is kept. A session ends at logout (`ended_at`), at `expires_at`,
-- or when its key is revoked.

ALTER TABLE api_keys ADD COLUMN created_by TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_by TEXT;

CREATE TABLE IF NOT EXISTS desk_sessions (
    session_hash TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ended_at     TEXT
);
CREATE INDEX IF NOT EXISTS desk_sessions_key ON desk_sessions (key_id);
