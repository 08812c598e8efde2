-- Telling other systems (issue 19): the `integration` role for API keys, and webhook
-- subscriptions (adapters/store/subscriptions.py; delivery: services/hub_delivery.py).
--
-- api_keys is rebuilt to widen its role check (neither SQLite nor PostgreSQL share a way to
-- change a CHECK in place); the rows, their columns and the one-active-key-per-name index are kept.
CREATE TABLE IF NOT EXISTS api_keys_0020 (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('channel', 'clerk', 'auditor', 'admin', 'integration')),
    channel     TEXT,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    created_by  TEXT,
    revoked_by  TEXT,
    CHECK ((role = 'channel') = (channel IS NOT NULL))
);
INSERT INTO api_keys_0020 (key_id, name, role, channel, secret_hash, created_at, revoked_at, created_by, revoked_by)
    SELECT key_id, name, role, channel, secret_hash, created_at, revoked_at, created_by, revoked_by FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_0020 RENAME TO api_keys;
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- One row per webhook subscription (POST /v1/hub, and the TMF APIs' POST .../hub). Delivery is a
-- projection per subscription: `position` is its own tracking position (the last log position it
-- has delivered or passed over), moved only by the process holding its lease. A deleted
-- subscription keeps its row (who subscribed what, and when) with `deleted_at` set.
-- `owner`: the name of the integration key that made it; only keys of that name see or end it,
-- and it is delivered only while such a key is active (a rotated key keeps its subscriptions).
CREATE TABLE IF NOT EXISTS hub_subscription (
    subscription_id   TEXT PRIMARY KEY,
    api               TEXT NOT NULL,
    callback          TEXT NOT NULL,
    query             TEXT NOT NULL,
    secret            TEXT NOT NULL,
    owner             TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    deleted_at        TEXT,
    deleted_by        TEXT,
    position          BIGINT NOT NULL,
    delivered         BIGINT NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT,
    last_error        TEXT,
    last_error_at     TEXT,
    last_delivered_at TEXT,
    lease_owner       TEXT,
    lease_until       TEXT
);
CREATE INDEX IF NOT EXISTS hub_subscription_active ON hub_subscription (deleted_at, created_at);
