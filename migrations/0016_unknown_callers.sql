-- Unknown callers (issue 18): a touchpoint from a number nobody held is kept on the number's
-- unidentified party (docs/events.md §3.13), a stream with a random id. The write side finds a
-- number's party by its claim (customer_claims, kind 'unidentified'); the read side by this table
-- (projections/customer_view.py), whose rows an erasure of the party deletes. The party's
-- touchpoints are rm_contact rows under its id until they join a customer.
CREATE TABLE IF NOT EXISTS rm_unidentified_party (
    party_id  TEXT PRIMARY KEY,
    msisdn    TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    position  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_unidentified_party_msisdn ON rm_unidentified_party (msisdn);
