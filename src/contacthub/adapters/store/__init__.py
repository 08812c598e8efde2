"""Storage: the event log (eventsourcing recorders) and the read-model database."""
