-- Erasure without breaking the log (docs/audit.md, "Erasure").
-- customer_keys: each customer's data key, which encrypts their personal fields in the
-- log. Held apart from the events (never in the log, never in an export); deleting a row
-- is the erasure. Written in the registration's transaction.
-- rm_customer.erased_at: when the customer's personal data was erased (NULL: not erased).

CREATE TABLE IF NOT EXISTS customer_keys (
    customer_id TEXT PRIMARY KEY,
    data_key    BYTEA NOT NULL
);
ALTER TABLE rm_customer ADD COLUMN erased_at TEXT;
