-- GET /v1/metrics/value adds ARPU up in SQL instead of reading every customer into the
-- service (projections/metrics_queries.py).
--
-- "As of a past day" needs each customer's tier and ARPU in force at the end of that day.
-- Each rm_tier_history row now says until when it was in force (superseded_at: the
-- effective_at of the customer's next row, NULL for the latest) and which ARPU was in force
-- from it (arpu_in_force: its own ARPU, or the last one stated before it, since a
-- registration gives a tier but no ARPU). The state at a moment is then one range scan:
-- effective_at < moment AND (superseded_at IS NULL OR superseded_at >= moment).
-- projections/metrics_view.py keeps both columns current; the rows already stored are
-- filled here, so no rebuild is needed.

ALTER TABLE rm_tier_history ADD COLUMN superseded_at TEXT;
ALTER TABLE rm_tier_history ADD COLUMN arpu_in_force DOUBLE PRECISION;
UPDATE rm_tier_history SET
    superseded_at = (
        SELECT MIN(n.effective_at) FROM rm_tier_history n
        WHERE n.customer_id = rm_tier_history.customer_id
          AND (n.effective_at > rm_tier_history.effective_at
               OR (n.effective_at = rm_tier_history.effective_at AND n.event_id > rm_tier_history.event_id))
    ),
    arpu_in_force = (
        SELECT p.arpu FROM rm_tier_history p
        WHERE p.customer_id = rm_tier_history.customer_id AND p.arpu IS NOT NULL
          AND (p.effective_at < rm_tier_history.effective_at
               OR (p.effective_at = rm_tier_history.effective_at AND p.event_id <= rm_tier_history.event_id))
        ORDER BY p.effective_at DESC, p.event_id DESC LIMIT 1
    );
CREATE INDEX IF NOT EXISTS rm_tier_history_in_force ON rm_tier_history (effective_at, superseded_at);

-- The top 20% by ARPU are read in ARPU order, overall and within one tier.
CREATE INDEX IF NOT EXISTS rm_customer_value_arpu ON rm_customer_value (arpu);
CREATE INDEX IF NOT EXISTS rm_customer_value_tier_arpu ON rm_customer_value (tier, arpu);
DROP INDEX IF EXISTS rm_customer_value_tier;
