-- Write-side lookups, written in the same transaction as the events they describe.

-- Every event a channel ever posted, by its own event_id: the durable idempotency key.
-- (customer_id, customer_version) point at the stored event, so its log position can be found.
CREATE TABLE IF NOT EXISTS ingest_keys (
    event_id         TEXT PRIMARY KEY,
    digest           TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    customer_version BIGINT NOT NULL
);

-- Identifiers that belong to exactly one customer: msisdn, order and complaint ids.
-- Resolves an msisdn to its customer at write time, and makes the ids unique across customers.
CREATE TABLE IF NOT EXISTS customer_claims (
    kind        TEXT NOT NULL,
    claim       TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (kind, claim)
);
