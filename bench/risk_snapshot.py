"""The at-risk list "now": counted live over the 30-day window against read from the risk
watcher's snapshot (services/risk_watch.py), p50 / p99 / max.

    .venv/bin/python bench/risk_snapshot.py sqlite 1000000 [live-repeats]
    .venv/bin/python bench/risk_snapshot.py postgresql 1000000

The read-model rows (contact facts, customer tiers, complaints) are written straight into a
fresh database, not projected from a log: this measures the two queries, not the projector.
`contacts` contact facts over `contacts / 10` customers, a fifth as many complaints, all in
the window. PostgreSQL is a throwaway local server (tests/support/pgserver.py).
"""
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from contacthub.adapters.store.database import parse_database_url
from contacthub.adapters.store.eventlog import CustomerLog
from contacthub.adapters.store.migrations import migrate
from contacthub.projections.base import utc_text
from contacthub.projections.risk_queries import RiskQueries, SnapshotUse

backend, contacts = sys.argv[1], int(sys.argv[2])
customers = contacts // 10
NOW = datetime(2026, 10, 29, tzinfo=timezone.utc)
server = None
if backend == "sqlite":
    import tempfile
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
else:
    from support.pgserver import ThrowawayPostgres
    server = ThrowawayPostgres().start()
    url = server.create_database("riskbench")
log = CustomerLog(parse_database_url(url))
store = log.read_store
migrate(store, announce=False)
rnd = random.Random(7)
tiers = ["ordinary"] * 6 + ["silver", "silver", "gold", "diamond", "vip"]
channels = ["hotline"] * 35 + ["app"] * 25 + ["web"] * 15 + ["store"] * 10 + ["sms"] * 10 + ["technician"] * 5
t = time.monotonic()
with store.transaction(commit=True) as sql:
    sql.insert_rows("rm_customer_value", [("customer_id", "text"), ("tier", "text"), ("arpu", "float8"), ("effective_at", "text")],
                    [(f"C{i:07d}", rnd.choice(tiers), 50.0, utc_text(NOW - timedelta(days=90))) for i in range(customers)])
    rows = []
    for n in range(contacts):
        ch = rnd.choice(channels)
        inbound = 0 if ch in ("sms", "technician") else 1
        at = NOW - timedelta(seconds=rnd.randrange(30 * 86400))
        rows.append((f"e{n}", f"C{rnd.randrange(customers):07d}", utc_text(at), at.date().isoformat(), ch,
                     "inbound" if inbound else "outbound", "billing", "agent", rnd.choice(["resolved"] * 7 + ["unresolved"] * 2 + ["abandoned"]),
                     100, "ordinary", inbound, 0, 1, 1, 0, 1, 0, 1))
        if len(rows) == 50_000:
            sql.insert_rows("rm_contact_fact", [(c, ty) for c, ty in zip(
                "event_id customer_id occurred_at day channel direction reason handled_by outcome duration_s tier inbound self_service assisted issue_start repeated fcr contained handled".split(),
                ["text"] * 9 + ["bigint"] + ["text"] + ["bigint"] * 8)], rows)
            rows = []
    if rows:
        sql.insert_rows("rm_contact_fact", [(c, ty) for c, ty in zip(
            "event_id customer_id occurred_at day channel direction reason handled_by outcome duration_s tier inbound self_service assisted issue_start repeated fcr contained handled".split(),
            ["text"] * 9 + ["bigint"] + ["text"] + ["bigint"] * 8)], rows)
    comp = []
    for k in range(customers // 5):
        opened = NOW - timedelta(seconds=rnd.randrange(40 * 86400))
        deadline = opened + timedelta(hours=48)
        met = rnd.choice([1, 1, 1, 0, None])
        comp.append((f"K{k}", f"C{rnd.randrange(customers):07d}", "resolved" if met is not None else "acknowledged", "billing", "high",
                     "gold", "s", "hotline", "a", "a", utc_text(opened), utc_text(opened), 0, 0, "p", 1, utc_text(opened), 172800, 100000, 0.0,
                     0, 0, utc_text(deadline), met))
    sql.executemany("INSERT INTO rm_complaint (complaint_id, customer_id, status, category, severity, tier, summary, channel, owner, owners, "
                    "opened_at, last_changed_at, escalation_level, reopen_count, sla_policy, clock_no, clock_started_at, allowance_s, warning_s, "
                    "paused_s, warned, breached, deadline_at, first_sla_met) VALUES (" + ",".join("?" * 24) + ")", comp)
if backend != "sqlite":
    with store.transaction(commit=True) as sql:
        sql.execute("ANALYZE")
print(f"{backend}: {contacts} contacts, {customers} customers, {customers // 5} complaints filled in {time.monotonic() - t:.1f}s")

risk = RiskQueries(store, ZoneInfo("Asia/Shanghai"), lambda: NOW)


def timed(fn, n):
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    out.sort()
    return f"p50 {statistics.median(out):.1f} ms, p99 {out[min(len(out) - 1, int(0.99 * len(out)))]:.1f} ms, max {out[-1]:.1f} ms (n={n})"


live_n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
print("live   page 1:             ", timed(lambda: risk.at_risk(NOW), live_n))
started = time.perf_counter()
count = risk.refresh_snapshot(NOW, 1)
print(f"refresh: {count} at risk, {(time.perf_counter() - started) * 1000:.0f} ms")
risk.snapshot_use = SnapshotUse(timedelta(seconds=120), lambda: 1)
assert "position" in risk.at_risk()
assert {k: v for k, v in risk.at_risk().items() if k != "position"} == risk.at_risk(NOW)  # the same answer both ways
started = time.perf_counter()
risk.refresh_snapshot(NOW, 1)
print(f"refresh again (rows replaced): {(time.perf_counter() - started) * 1000:.0f} ms")
FILTERS = [("page 1", {}), ("tier=gold", {"tier": "gold"}), ("rule=valued_tier_sla_breach", {"rule": "valued_tier_sla_breach"}),
           ("page 100", {"page": 100}), ("tier+rule", {"tier": "ordinary", "rule": "frequent_service_calls"})]
for label, kw in FILTERS:
    print(f"snapshot {label:28}", timed(lambda kw=kw: risk.at_risk(**kw), 200))
log.close()
if server:
    server.stop()
