#!/usr/bin/env python3
"""Verify a ContactHub customer export offline: python3 verify_export.py C1.chain.jsonl [--head HASH]

Standard library only, independent of ContactHub's code: it recomputes every link of the
customer's hash chain from the exported events and compares it with the exported link.
With --head (a hash written down earlier, e.g. from an anchor or an earlier export), it
also checks that the chain still passes through that link.

Exit 0 and "intact" when everything matches; exit 1 with one line per problem otherwise.
The link formula is in docs/audit.md and in the export's header line.
"""

import argparse
import base64
import hashlib
import json
import sys


def field(data):
    return len(data).to_bytes(8, "big") + data


def link(previous, customer_id, version, position, topic, state):
    digest = hashlib.sha256(bytes.fromhex(previous))
    digest.update(field(customer_id.encode("utf-8")))
    digest.update(version.to_bytes(8, "big", signed=True))
    digest.update(position.to_bytes(8, "big", signed=True))
    digest.update(field(topic.encode("utf-8")))
    digest.update(field(state))
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="the .jsonl file from GET /v1/customers/{id}/export")
    parser.add_argument("--head", help="a link hash the chain must still contain (an anchored head)")
    args = parser.parse_args()
    try:
        with open(args.export, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        print(f"verify_export: cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    if not lines or lines[0].get("format") != "contacthub-customer-export/1":
        print("verify_export: not a contacthub-customer-export/1 file", file=sys.stderr)
        return 2
    header, rows = lines[0], lines[1:]
    customer = header["customer_id"]
    problems = []
    previous, expected = "0" * 64, 1
    for row in rows:
        version = row["version"]
        if version != expected:
            problems.append(f"version {expected} to {version - 1}: missing from the export (removed)")
            previous = None  # the next link cannot be recomputed without the missing one
        expected = version + 1
        has_state = row.get("state") is not None or row.get("state_base64") is not None
        if row.get("link") is None:
            problems.append(f"version {version}: an event without a chain link (inserted)")
            previous = None
            continue
        if not has_state:
            problems.append(f"version {version}: a chain link without its event (removed)")
        elif previous is not None:
            state = row["state"].encode("utf-8") if row.get("state") is not None else base64.b64decode(row["state_base64"])
            if link(previous, customer, version, row["position"], row["topic"], state) != row["link"]:
                problems.append(f"version {version} (position {row['position']}): the event does not match its link (changed)")
        previous = row["link"]
    links = [row["link"] for row in rows if row.get("link")]
    head = header.get("head")
    if head and (not links or links[-1] != head["hash"]):
        problems.append("the header's head is not the last link in the file")
    if args.head and args.head not in links:
        problems.append(f"the chain does not contain the expected head {args.head} (truncated or recomputed)")
    for problem in problems:
        print(f"{customer}: {problem}")
    if problems:
        return 1
    print(f"{customer}: intact, {len(rows)} events, head {links[-1] if links else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
