"""A scripted language model on 127.0.0.1, and a proxy that refuses everything.

The real agent clients (Claude Code, Codex) talk to this endpoint as if it were their model provider:

* Claude Code: the Anthropic Messages API, `POST /v1/messages` (streaming SSE, `tool_use` blocks), reached
  through `ANTHROPIC_BASE_URL`.
* Codex: the OpenAI Responses API, `POST /v1/responses` (streaming SSE, `function_call` items), reached
  through a model provider with `base_url` in its config.toml.

The model is a list of turns (`Turn`). Each request of the client's main loop is answered with the turn whose
index is the number of tool results the request already carries: turn 0 for the first request, turn 1 once
the first tool result is back, and so on; after the last turn it answers with plain text and the client stops.
So the script is stateless per request and a retried request gets the same answer. Every tool result the
client sends back is recorded (`results`, by turn) for the driver to check: that is how "the next turn reads
the result" works here.

The tool a turn calls is named by flagwarden's tool name; a `Dialect` maps it to the name the client exposes
it under, found in the request's own tool list (Claude Code: `mcp__<server>__<tool>`; Codex: see
`codex_tool`), so a client that renamed its tools fails loudly instead of calling nothing.

`RefusingProxy` listens on another loopback port. The clients' HTTP_PROXY/HTTPS_PROXY point at it; every
connection it gets is recorded and answered 403, and the driver fails on any. Nothing leaves the machine.

Standard library only: it runs under any python3 >= 3.10.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Turn:
    """One model turn: call flagwarden tool `tool` with `args` (a dict, or a raw JSON string for a
    malformed call the model could emit)."""

    label: str
    tool: str
    args: dict[str, Any] | str


FINAL_TEXT = "The release walk is done."


@dataclass
class Transcript:
    """What the clients sent, for the driver's checks and for the failure report."""

    requests: list[dict[str, Any]] = field(default_factory=list)  # {"path", "body"} of every request
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # turn -> {"text", "is_error", "raw"}
    tool_names: list[list[str]] = field(default_factory=list)  # the tool names each main request offered
    errors: list[str] = field(default_factory=list)  # script failures (a tool missing from the request, ...)
    lock: threading.Lock = field(default_factory=threading.Lock)


# ---- the Anthropic Messages API (Claude Code) ------------------------------------------------------------


def anthropic_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of every user message, in order."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        out.extend(block for block in content if isinstance(block, dict) and block.get("type") == "tool_result")
    return out


def anthropic_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def anthropic_sse(message_id: str, blocks: list[dict[str, Any]], stop_reason: str, model: str) -> bytes:
    """A streamed Messages API answer: message_start, one start/delta/stop per block, message_delta, stop."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 100, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": block["input_json"]}
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def anthropic_json(message_id: str, blocks: list[dict[str, Any]], stop_reason: str, model: str) -> bytes:
    content = []
    for block in blocks:
        if block["type"] == "text":
            content.append({"type": "text", "text": block["text"]})
        else:
            try:
                parsed = json.loads(block["input_json"])
            except ValueError:
                parsed = {}
            content.append({"type": "tool_use", "id": block["id"], "name": block["name"], "input": parsed})
    return json.dumps(
        {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20},
        }
    ).encode()


# ---- the OpenAI Responses API (Codex) --------------------------------------------------------------------


def responses_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool output items of the input, in order (function_call_output and its kin)."""
    items = body.get("input")
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and str(i.get("type", "")).endswith("_output") and "call_id" in i]


def responses_result_text(item: dict[str, Any]) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(part.get("text", "") for part in output if isinstance(part, dict))
    if isinstance(output, dict):
        return json.dumps(output)
    return ""


def responses_tool_names(body: dict[str, Any]) -> list[str]:
    """Every function name the request offers, nested ones (namespaces) as `<namespace>.<name>`."""
    names = []
    for tool in body.get("tools", []) or []:
        if not isinstance(tool, dict):
            continue
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        inner = tool.get("tools")
        if isinstance(inner, list):
            for t in inner:
                if isinstance(t, dict) and t.get("name"):
                    names.append(f"{name}.{t['name']}")
        elif name:
            names.append(name)
    return names


def responses_sse(response_id: str, items: list[dict[str, Any]], model: str) -> bytes:
    seq = 0
    chunks = []

    def emit(data: dict[str, Any]) -> None:
        nonlocal seq
        data["sequence_number"] = seq
        seq += 1
        chunks.append(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

    base = {"id": response_id, "object": "response", "model": model, "created_at": 0}
    emit({"type": "response.created", "response": {**base, "status": "in_progress", "output": []}})
    for index, item in enumerate(items):
        emit({"type": "response.output_item.added", "output_index": index, "item": {**item, "status": "in_progress"}})
        emit({"type": "response.output_item.done", "output_index": index, "item": {**item, "status": "completed"}})
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 120,
    }
    emit(
        {
            "type": "response.completed",
            "response": {**base, "status": "completed", "output": [{**i, "status": "completed"} for i in items], "usage": usage},
        }
    )
    return b"".join(chunks)


# ---- the server ------------------------------------------------------------------------------------------


class ScriptedModel:
    """The endpoint. `claude_tool(tool, offered)` and `codex_tool(tool, offered)` map a flagwarden tool name
    to (the name to call, the namespace or None), given the names the request offered."""

    def __init__(self, script: list[Turn], server_name: str) -> None:
        self.script = script
        self.server_name = server_name
        self.transcript = Transcript()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ScriptedModel":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the script ----------------------------------------------------------------------------------------

    def _record_results(self, texts: list[tuple[str, bool | None, Any]]) -> None:
        with self.transcript.lock:
            for turn, (text, is_error, raw) in enumerate(texts):
                self.transcript.results.setdefault(turn, {"text": text, "is_error": is_error, "raw": raw})

    def _fail(self, message: str) -> None:
        with self.transcript.lock:
            self.transcript.errors.append(message)

    def claude_answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        offered = [t.get("name", "") for t in body.get("tools", []) or [] if isinstance(t, dict)]
        prefix = f"mcp__{self.server_name}__"
        if not any(name.startswith(prefix) for name in offered):
            # A side request (a title, a summary, a quota probe): no flagwarden tools, so not the main loop.
            return [{"type": "text", "text": "ok"}], "end_turn"
        with self.transcript.lock:
            self.transcript.tool_names.append(offered)
        results = anthropic_tool_results(body)
        self._record_results([(anthropic_result_text(r), r.get("is_error"), r) for r in results])
        turn = len(results)
        if turn >= len(self.script):
            return [{"type": "text", "text": FINAL_TEXT}], "end_turn"
        step = self.script[turn]
        name = prefix + step.tool
        if name not in offered:
            self._fail(f"turn {turn} ({step.label}): Claude Code offered no tool {name}; it offered {offered}")
            return [{"type": "text", "text": f"no tool {name}"}], "end_turn"
        args = step.args if isinstance(step.args, str) else json.dumps(step.args)
        return [{"type": "tool_use", "id": f"toolu_{turn:02d}", "name": name, "input_json": args}], "tool_use"

    def codex_answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        offered = responses_tool_names(body)
        mine = [n for n in offered if self.server_name in n]
        if not mine:
            return [self._codex_text("ok")]
        with self.transcript.lock:
            self.transcript.tool_names.append(offered)
        results = responses_tool_results(body)
        self._record_results([(responses_result_text(r), None, r) for r in results])
        turn = len(results)
        if turn >= len(self.script):
            return [self._codex_text(FINAL_TEXT)]
        step = self.script[turn]
        call = codex_call(self.server_name, step.tool, offered)
        if call is None:
            self._fail(f"turn {turn} ({step.label}): Codex offered no tool for {step.tool}; it offered {offered}")
            return [self._codex_text(f"no tool {step.tool}")]
        name, namespace = call
        args = step.args if isinstance(step.args, str) else json.dumps(step.args)
        item = {"type": "function_call", "id": f"fc_{turn:02d}", "call_id": f"call_{turn:02d}", "name": name, "arguments": args}
        if namespace is not None:
            item["namespace"] = namespace
        return [item]

    @staticmethod
    def _codex_text(text: str) -> dict[str, Any]:
        return {
            "type": "message",
            "id": "msg_text",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # quiet: the transcript keeps what matters
                pass

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("content-encoding") == "zstd" or raw[:4] == b"\x28\xb5\x2f\xfd":
                    model._fail(f"{self.path}: a zstd-compressed body, which this endpoint cannot read")
                    return {}
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_unparsed": raw[:2000].decode(errors="replace")}
                with model.transcript.lock:
                    model.transcript.requests.append({"method": self.command, "path": self.path, "body": body})
                return body if isinstance(body, dict) else {}

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                if content_type == "text/event-stream":
                    self.send_header("cache-control", "no-cache")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                with model.transcript.lock:
                    model.transcript.requests.append({"method": "GET", "path": self.path, "body": None})
                if self.path.split("?")[0].endswith("/models"):
                    self._send(200, json.dumps({"data": [], "models": []}).encode(), "application/json")
                else:
                    self._send(404, b'{"error": "not scripted"}', "application/json")

            def do_HEAD(self) -> None:  # noqa: N802
                self._send(200, b"", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                path = self.path.split("?")[0]
                name = body.get("model", "scripted")
                if path.endswith("/v1/messages/count_tokens"):
                    self._send(200, b'{"input_tokens": 100}', "application/json")
                elif path.endswith("/v1/messages"):
                    blocks, stop = model.claude_answer(body)
                    mid = f"msg_{len(model.transcript.requests):03d}"
                    if body.get("stream"):
                        self._send(200, anthropic_sse(mid, blocks, stop, name), "text/event-stream")
                    else:
                        self._send(200, anthropic_json(mid, blocks, stop, name), "application/json")
                elif path.endswith("/responses"):
                    items = model.codex_answer(body)
                    rid = f"resp_{len(model.transcript.requests):03d}"
                    self._send(200, responses_sse(rid, items, name), "text/event-stream")
                else:
                    self._send(404, b'{"error": "not scripted"}', "application/json")

        return Handler


def codex_call(server: str, tool: str, offered: list[str]) -> tuple[str, str | None] | None:
    """How Codex exposes MCP tool `tool` of server `server`: as a plain function `mcp__<server>__<tool>`, or
    as function `<tool>` (or `__<tool>`) inside a namespace tool named `mcp__<server>` (Codex 0.169 groups a
    server's tools that way), whichever the request offers."""
    flat = f"mcp__{server}__{tool}"
    if flat in offered:
        return flat, None
    for name in offered:
        namespace, _, inner = name.partition(".")
        if namespace.startswith(f"mcp__{server}") and inner in (tool, f"__{tool}", flat):
            return inner, namespace
    return None


class RefusingProxy:
    """A loopback listener standing in for every proxy: records the first line of whatever connects and
    answers 403. `attempts` must stay empty."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.attempts: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> "RefusingProxy":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    first = "<no request line>"
                self.attempts.append(first or "<empty connection>")
                try:
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                except OSError:
                    pass

