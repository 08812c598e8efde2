-- Numbers over time (issue 18): a number can be released and given to another customer
-- (customer.msisdn_released, customer.msisdn_added; domain/numbers.py). customer_claims keeps
-- the number's current holder (one at most: its primary key); these tables keep every holding,
-- so a touchpoint posted by number goes to whoever held it at its occurred_at, and a lookup by
-- number answers for any moment. Times are UTC text (projections/base.py, utc_text), so text
-- order is time order on both backends.

-- Write side, in the events' transaction (adapters/store/recording.py). The holdings of numbers
-- claimed before this migration start at the earliest moment there is: before the first
-- holding the first holder counts anyway (domain/numbers.py, holder_at), so the answers are
-- the same as with the registration's own moment, which only the stored events know.
CREATE TABLE IF NOT EXISTS msisdn_holdings (
    msisdn      TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    held_from   TEXT NOT NULL,
    released_at TEXT,
    PRIMARY KEY (msisdn, customer_id, held_from)
);
CREATE INDEX IF NOT EXISTS msisdn_holdings_customer ON msisdn_holdings (customer_id);
INSERT INTO msisdn_holdings (msisdn, customer_id, held_from, released_at)
    SELECT claim, customer_id, '0001-01-01T00:00:00.000000+00:00', NULL FROM customer_claims WHERE kind = 'msisdn';

-- Read side (projections/customer_view.py): replaces rm_msisdn, which knew one holder per
-- number. Rows are keyed by customer, so the partitions of two holders never write the same
-- row; `position` is the log position of the event that started the holding (of two holdings
-- starting at one instant the later counts). The stored numbers are carried over with their
-- customer's registration moment and position, as a rebuild would write them.
CREATE TABLE IF NOT EXISTS rm_msisdn_holding (
    msisdn      TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    held_from   TEXT NOT NULL,
    released_at TEXT,
    position    BIGINT NOT NULL,
    PRIMARY KEY (msisdn, customer_id, held_from)
);
CREATE INDEX IF NOT EXISTS rm_msisdn_holding_customer ON rm_msisdn_holding (customer_id);
INSERT INTO rm_msisdn_holding (msisdn, customer_id, held_from, released_at, position)
    SELECT m.msisdn, m.customer_id, c.registered_at, NULL, m.registered_position
    FROM rm_msisdn m JOIN rm_customer c ON c.customer_id = m.customer_id;
DROP TABLE rm_msisdn;
