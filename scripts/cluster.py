"""`./dev cluster`: ContactHub and its demo on a local three-node pg_auto_failover cluster.

A monitor, a primary and two synchronous standbys on loopback (the same throwaway cluster the
cluster tests start: tests/support/pgcluster.py, with its fast failover settings), the demo
population loaded through the primary, and `contacthub serve` writing to the primary and
reading from a standby. The node table is printed whenever a role changes, with the command
that kills each node (its keeper and its PostgreSQL, as a lost machine): kill the primary and
watch a standby take over while the same server keeps answering; type the lost node's name to
bring it back. Ctrl-C stops and removes everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the cluster launcher the tests use, one implementation

from support.pgcluster import ThrowawayCluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="the API's port (default 8000)")
    parser.add_argument("--customers", type=int, default=3000, help="demo customers (default 3000)")
    args = parser.parse_args()
    contacthub = str(Path(sys.executable).parent / "contacthub")
    # A terminal closed or a `kill`: stop and remove the cluster as Ctrl-C does.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _as_interrupt)
    print("starting a monitor and three data nodes (pg_auto_failover) ...", flush=True)
    cluster = ThrowawayCluster(standbys=2).start()
    stop = threading.Event()
    server: subprocess.Popen[bytes] | None = None
    try:
        env = {**os.environ, "CONTACTHUB_DATABASE_URL": cluster.url("read-write"),
               "CONTACTHUB_READ_DATABASE_URL": cluster.url("prefer-standby")}
        print(f"CONTACTHUB_DATABASE_URL={env['CONTACTHUB_DATABASE_URL']}")
        print(f"CONTACTHUB_READ_DATABASE_URL={env['CONTACTHUB_READ_DATABASE_URL']}", flush=True)
        subprocess.run([contacthub, "demo", "--customers", str(args.customers)], env=env, check=True)
        server = subprocess.Popen([contacthub, "serve", "--port", str(args.port)], env=env)
        threading.Thread(target=_watch, args=(cluster, stop), daemon=True).start()
        threading.Thread(target=_bring_back, args=(cluster,), daemon=True).start()
        print(f"\nContactHub on http://127.0.0.1:{args.port} (desk: /desk). Type a lost node's name and Enter to "
              "bring it back (it rejoins as a standby); Ctrl-C stops the cluster.\n", flush=True)
        server.wait()
        return server.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        cluster.stop()


def _as_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signum)


def _bring_back(cluster: ThrowawayCluster) -> None:
    for line in sys.stdin:
        name = line.strip()
        node = next((n for n in cluster.nodes if n.name == name), None)
        if node is None:
            print(f"no node {name!r}; the nodes: {', '.join(n.name for n in cluster.nodes)}", flush=True)
        elif node.process is not None and node.process.poll() is None:
            print(f"{name} is running", flush=True)
        else:
            cluster.restart_node(node)
            print(f"{name} restarted; it rejoins as a standby", flush=True)


def _watch(cluster: ThrowawayCluster, stop: threading.Event) -> None:
    """Print the nodes' roles whenever they change, with how to kill each one."""
    seen: dict[str, tuple[str, str]] | None = None
    while not stop.wait(1.0):
        try:
            states = cluster.states()
        except Exception as exc:  # the monitor is a process of this script too: say so and go on
            print(f"monitor unreachable: {exc}", flush=True)
            continue
        if states == seen:
            continue
        seen = states
        print(time.strftime("%H:%M:%S"), "cluster:", flush=True)
        for node in cluster.nodes:
            reported, assigned = states.get(node.name, ("(gone)", ""))
            alive = node.process is not None and node.process.poll() is None
            kill = f"kill -9 -- -{node.process.pid}" if alive and node.process is not None else "(not running)"
            print(f"  {node.name} {node.address:>16}  {reported:>14} -> {assigned:<14}  lose it: {kill}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
