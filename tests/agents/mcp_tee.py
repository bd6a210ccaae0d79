"""A transparent stdio wrapper around an MCP server that logs every JSON-RPC line, for the driver's checks on
what the client really sent (its name, protocol, the answer it gave to an elicitation).

    python3 mcp_tee.py LOG_FILE -- flagwarden --policy P --db D mcp

Each line of LOG_FILE is `{"dir": "c2s" | "s2c", "msg": <the JSON-RPC message, or the raw line>}`. The
server's stderr passes through. The wrapper exits with the server's exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import IO


def pump(src: IO[bytes], dst: IO[bytes], direction: str, log: IO[str], lock: threading.Lock) -> None:
    for line in iter(src.readline, b""):
        try:
            dst.write(line)
            dst.flush()
        except (BrokenPipeError, ValueError):
            break
        text = line.decode(errors="replace").rstrip("\n")
        try:
            msg: object = json.loads(text)
        except ValueError:
            msg = text
        with lock:
            log.write(json.dumps({"dir": direction, "msg": msg}) + "\n")
            log.flush()
    try:
        dst.close()
    except (BrokenPipeError, ValueError):
        pass


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage: mcp_tee.py LOG_FILE -- SERVER [ARGS...]", file=sys.stderr)
        return 2
    lock = threading.Lock()
    with open(sys.argv[1], "a") as log:
        child = subprocess.Popen(sys.argv[3:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert child.stdin is not None and child.stdout is not None
        up = threading.Thread(target=pump, args=(sys.stdin.buffer, child.stdin, "c2s", log, lock), daemon=True)
        up.start()
        pump(child.stdout, sys.stdout.buffer, "s2c", log, lock)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
