"""A process holding COUNT in-process flagd providers (openfeature-provider-flagd), each syncing from
`flagwarden serve` over its own gRPC stream, for the rollback fan-out test and benchmark.

    flagd_subscribers.py PORT TOKEN FLAG KEY COUNT

Prints `ready` once every provider has its first definition. Then, for each line `expect JSON` read from
stdin (a value, or {"value", "flag", "key"} to watch another flag or key), it prints `armed` and waits until
every provider answers FLAG for targeting key KEY with that value, checked in each
provider's PROVIDER_CONFIGURATION_CHANGED handler (the moment a new definition is in its store), and
prints one JSON line: the CLOCK_MONOTONIC time (shared by every process on the machine) at which each
provider first gave the expected answer. Exits on EOF, or with status 2 if a flip is not seen in 20 s."""

from __future__ import annotations

import json
import sys
import threading
import time

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent

from flagd_support import in_process_client

FLIP_TIMEOUT_S = 20


def main() -> None:
    port, token, flag, key, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    clients = [in_process_client(port, token, f"sub-{i}") for i in range(count)]
    lock = threading.Lock()
    state = {"expect": None, "seen": [None] * count, "flag": flag, "context": EvaluationContext(targeting_key=key)}
    done = threading.Event()

    def check(i: int) -> None:
        with lock:
            if state["expect"] is None or state["seen"][i] is not None:
                return
            expect, flag_now, context = state["expect"], state["flag"], state["context"]
        value = clients[i].get_boolean_value(flag_now, not expect, context)
        now = time.monotonic()
        with lock:
            if value == expect == state["expect"] and state["seen"][i] is None:
                state["seen"][i] = now
                if all(t is not None for t in state["seen"]):
                    done.set()

    for i, c in enumerate(clients):
        c.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, lambda _details, i=i: check(i))
    print("ready", flush=True)
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if verb != "expect":
            continue
        want = json.loads(arg)
        if not isinstance(want, dict):
            want = {"value": want}
        with lock:
            state["expect"] = want["value"]
            state["flag"] = want.get("flag", flag)
            state["context"] = EvaluationContext(targeting_key=want.get("key", key))
            state["seen"] = [None] * count
            done.clear()
        print("armed", flush=True)
        for i in range(count):  # a definition that arrived before the command counts too
            check(i)
        if not done.wait(FLIP_TIMEOUT_S):
            missing = sum(t is None for t in state["seen"])
            print(json.dumps({"error": f"{missing} of {count} providers never served the flip"}), flush=True)
            sys.exit(2)
        print(json.dumps({"seen": state["seen"]}), flush=True)
    api.shutdown()


if __name__ == "__main__":
    main()
