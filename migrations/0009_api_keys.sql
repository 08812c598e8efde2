-- API keys and the access log (roles: domain/roles.py; store: adapters/store/api_keys.py).
--
-- A key is `ch_<key_id>_<secret>`; only the SHA-256 of the secret is kept (the secret has
-- 256 bits of entropy, so a fast hash is enough). A revoked key keeps its row, so the access
-- log can always name who read what. At most one active key per name.

CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('channel', 'clerk', 'auditor', 'admin')),
    channel     TEXT,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CHECK ((role = 'channel') = (channel IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Every read of a customer's data by a clerk or an auditor: who (key id, name, role), when
-- (UTC, fixed-width ISO text, so text order is time order), what (method, path, query with
-- phone numbers masked, and the customer and complaint it concerned when known).
-- Entries are ordered by (at, entry_id).
CREATE TABLE IF NOT EXISTS access_log (
    entry_id     TEXT PRIMARY KEY,
    at           TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    key_name     TEXT NOT NULL,
    role         TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    query        TEXT NOT NULL,
    customer_id  TEXT,
    complaint_id TEXT
);
CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at, entry_id);
CREATE INDEX IF NOT EXISTS access_log_customer ON access_log (customer_id, at, entry_id);
