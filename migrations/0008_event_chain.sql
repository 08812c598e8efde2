-- Tamper evidence: one hash-chain link per stored event (domain/event_chain.py).
-- Written by the event log's recorders in the same transaction as the event, so a link
-- exists if and only if its event does. The events stored before this migration are
-- linked by the migration's data step (adapters/store/chain.py, seal_existing_events).
-- `position` is the event's log position when it was stored; it is part of the link.

CREATE TABLE IF NOT EXISTS event_chain (
    customer_id TEXT NOT NULL,
    version     BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (customer_id, version)
);
