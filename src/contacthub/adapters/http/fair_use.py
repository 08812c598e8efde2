"""Back-pressure and fair use for ingest: a rate per key, and a bound on how far the read models may lag.

- **Per key**: each API key may post `CONTACTHUB_INGEST_EVENTS_PER_S` events per second,
  with bursts up to `CONTACTHUB_INGEST_BURST_EVENTS` (a token bucket per key, per server
  process). A batch past it is answered `429` with `Retry-After`: the seconds until the
  bucket holds the batch. Nothing is stored.
- **Lag**: while the read models are more than `CONTACTHUB_MAX_LAG_EVENTS` events behind the
  log's head, ingest is answered `503` with `Retry-After` instead of growing the lag without
  limit (reads stay current enough to serve clerks; the channels retry, as they do for any
  503). The lag is looked up at most every LAG_CHECK_S per process.

0 turns either off. `GET /ready` reports the lag (open, for load balancers): 503 while it is past the bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from contacthub.adapters.http.errors import ApiError

LAG_CHECK_S = 0.25
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyRates:
    """A token bucket per key: `rate` events per second, at most `burst` at once."""

    def __init__(self, rate: float, burst: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str, events: int) -> None:
        """Take `events` from the key's bucket, or ApiError 429 with the seconds to wait (nothing taken)."""
        if self.rate <= 0:
            return
        now = self.monotonic()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._buckets.clear()
                bucket = self._buckets[key_id] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            wanted = min(float(events), self.burst)  # a batch larger than the burst passes once the bucket is full
            if bucket.tokens >= wanted:
                bucket.tokens -= wanted
                return
            wait_s = max(1, math.ceil((wanted - bucket.tokens) / self.rate))
        raise ApiError(429, "events", f"this key may post {self.rate:g} events per second (bursts of {self.burst:g}); "
                                      f"retry in {wait_s} s", {"Retry-After": str(wait_s)})


class LagGauge:
    """How far the read models are behind the log, looked up at most every LAG_CHECK_S."""

    def __init__(self, head: Callable[[], int], applied: Callable[[], int], max_lag: int,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.head = head
        self.applied = applied
        self.max_lag = max_lag
        self.monotonic = monotonic
        self._seen: tuple[float, int, int] | None = None  # (when, head, applied)
        self._lock = threading.Lock()

    def positions(self, fresh: bool = False) -> tuple[int, int]:
        """(log head, position every read model has applied)."""
        now = self.monotonic()
        seen = self._seen
        if fresh or seen is None or now - seen[0] > LAG_CHECK_S:
            with self._lock:
                seen = self._seen
                if fresh or seen is None or now - seen[0] > LAG_CHECK_S:
                    applied = self.applied()  # first: a head read after it is never behind it
                    seen = self._seen = (now, self.head(), applied)
        return seen[1], seen[2]

    def refuse_when_behind(self) -> None:
        """ApiError 503 with Retry-After while the read models are more than `max_lag` events behind."""
        if self.max_lag <= 0:
            return
        head, applied = self.positions()
        if head - applied > self.max_lag:
            raise ApiError(503, "events", f"the read models are {head - applied} events behind the log (the bound is "
                                          f"{self.max_lag}); nothing was stored: retry shortly", {"Retry-After": "1"})
