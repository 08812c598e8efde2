"""The webhook requests themselves: HTTP POSTs with urllib3 (a pool of connections per host, timeouts,
no redirects followed, no proxy from the environment: a callback goes only where it says)."""

from __future__ import annotations

from collections.abc import Mapping

import urllib3

from contacthub.services.hub_delivery import CallbackFailed

MAX_ANSWER_BYTES = 2048
"""How much of a refusal's body is kept as the subscription's last error."""


class HttpCallbacks:
    def __init__(self, timeout_s: float) -> None:
        self.pool = urllib3.PoolManager(
            num_pools=64, maxsize=1, retries=False, timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
            headers={"User-Agent": "ContactHub-Webhooks/1"},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            answer = self.pool.request("POST", url, body=body, headers=dict(headers), redirect=False,
                                       preload_content=False)
        except urllib3.exceptions.HTTPError as failure:
            raise CallbackFailed(f"{type(failure).__name__}: {failure}") from None
        try:
            status = answer.status
            text = answer.read(MAX_ANSWER_BYTES, decode_content=False)  # at most this much of any answer is read
        except urllib3.exceptions.HTTPError as failure:
            raise CallbackFailed(f"{type(failure).__name__}: {failure}") from None
        finally:
            if answer.length_remaining == 0:
                answer.release_conn()
            else:  # a longer answer than is read: this connection is not reused
                answer.close()
        if not 200 <= status < 300:
            raise CallbackFailed(f"HTTP {status}: {text.decode('utf-8', 'replace')[:200]}".strip())

    def close(self) -> None:
        self.pool.clear()
