-- Read models split into partitions by customer (projections/runner.py) are applied by
-- several processes, each at its own pace. A number freed by an erasure and registered
-- again belongs to two customers, possibly in two partitions: the later registration's
-- partition may write its rm_msisdn row before the earlier customer's partition has
-- written (and then erased) its own. Each row therefore records the log position of the
-- registration that gave the number: a row is only replaced by a later registration, and an
-- erasure deletes only the erased customer's rows. The rows already stored are filled from
-- the log by the data step in adapters/store/migrations.py (DATA_STEPS).

ALTER TABLE rm_msisdn ADD COLUMN registered_position BIGINT NOT NULL DEFAULT 0
