"""The use cases: what channels, clerks, auditors and ContactHub's own watchers do with the log.

Each module is one use case (ingest, complaint actions, audit, erasure, the watchers). They
depend on ports (`ports.py`), never on a concrete store; `contacthub.bootstrap` wires them
to the storage adapters.
"""
