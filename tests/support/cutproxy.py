"""A TCP proxy in front of PostgreSQL that can lose the answer to a commit.

`CommitCutter` forwards every connection between ContactHub and a real PostgreSQL server.
Armed (`arm()`), it waits on each connection for a transaction that inserted rows (a
CommandComplete `INSERT 0 n` from the server) and, when that transaction's CommandComplete
`COMMIT` comes back, drops it and closes both sides: the server has committed, the client
never hears so. That is what a failover or a broken network does to an unlucky batch, made
to happen on demand. Used by tests/e2e/test_faults.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

COMMIT_TAG = b"C\x00\x00\x00\x0bCOMMIT\x00"  # CommandComplete, length 11, "COMMIT"
INSERT_TAG = b"INSERT 0 "


class CommitCutter:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._armed = threading.Event()
        self._lock = threading.Lock()
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, name="commit-cutter", daemon=True).start()

    def arm(self) -> None:
        """Cut the next connection whose inserting transaction commits, once."""
        self._armed.set()

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self) -> CommitCutter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            pair = _Pair(client, server)
            threading.Thread(target=self._pump, args=(pair, client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, server, client, True), daemon=True).start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        tail = b""
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if from_server and self._armed.is_set():
                    seen = tail + chunk
                    if INSERT_TAG in seen:
                        pair.inserted = True
                    if pair.inserted and COMMIT_TAG in seen:
                        with self._lock:
                            if self._armed.is_set():
                                self._armed.clear()
                                self.cuts += 1
                                pair.close()  # the commit happened; its answer is lost
                                return
                    if COMMIT_TAG in seen or b"ROLLBACK" in seen:
                        pair.inserted = False
                    tail = seen[-32:]
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            pair.close()


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.inserted = False

    def close(self) -> None:
        for side in (self.client, self.server):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
            side.close()
