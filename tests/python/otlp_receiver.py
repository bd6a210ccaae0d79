"""A small OTLP/HTTP receiver for the tests, built on OpenTelemetry's own `opentelemetry-proto` messages
and nothing of flagwarden: it listens on 127.0.0.1, takes `POST /v1/traces` and `/v1/metrics` in
protobuf or JSON (gzip or not), decodes each body into ExportTraceServiceRequest /
ExportMetricsServiceRequest, keeps it with its headers, and answers 200 with an empty response of the
same content type, as the OTLP spec says. Tests wait on its condition variable, never on a sleep.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SIGNALS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}

# OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64 for bytes.
HEX_IDS = {"traceId", "spanId", "parentSpanId"}


@dataclass
class Received:
    path: str
    content_type: str
    headers: dict[str, str]
    message: Any


def _hex_ids_to_base64(v: Any) -> Any:
    if isinstance(v, dict):
        return {
            k: (base64.b64encode(bytes.fromhex(x)).decode() if k in HEX_IDS and isinstance(x, str) else _hex_ids_to_base64(x))
            for k, x in v.items()
        }
    if isinstance(v, list):
        return [_hex_ids_to_base64(x) for x in v]
    return v


class Receiver:
    """`with Receiver() as r:` serves on `r.endpoint` until the block ends."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

            def do_POST(self) -> None:
                try:
                    receiver._take(self)
                except Exception as e:  # a body the receiver cannot decode is a test failure
                    with receiver._cond:
                        receiver.errors.append(f"{self.path}: {e!r}")
                        receiver._cond.notify_all()
                    self.send_response(400)
                    self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take(self, h: BaseHTTPRequestHandler) -> None:
        request_type, response_type = SIGNALS[h.path]
        body = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        if h.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip()
        message = request_type()
        if ctype == "application/x-protobuf":
            message.ParseFromString(body)
            answer = response_type().SerializeToString()
        elif ctype == "application/json":
            json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), message, ignore_unknown_fields=True)
            answer = b"{}"
        else:
            raise ValueError(f"unexpected Content-Type {ctype!r}")
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(answer)))
        h.end_headers()
        h.wfile.write(answer)
        with self._cond:
            headers = {k.lower(): v for k, v in h.headers.items()}
            self.received.append(Received(h.path, ctype, headers, message))
            self._cond.notify_all()

    def wait_for(self, what: str, found: Callable[[Receiver], Any], timeout: float = 15) -> Any:
        """Wait until `found(self)` is truthy (checked on every export) and return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                assert not self.errors, f"the receiver could not decode an export: {self.errors}"
                got = found(self)
                if got:
                    return got
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} within {timeout}s; received {self.summary()}"
                self._cond.wait(left)

    def summary(self) -> str:
        return ", ".join(f"{r.path} ({r.content_type})" for r in self.received) or "nothing"

    # ---- views over what arrived ----

    def spans(self) -> Iterator[tuple[dict[str, Any], Span]]:
        """Every span received, with its resource's attributes."""
        for r in list(self.received):
            if r.path != "/v1/traces":
                continue
            for rs in r.message.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        yield resource, span

    def metric_names(self) -> set[str]:
        names = set()
        for r in list(self.received):
            if r.path != "/v1/metrics":
                continue
            for rm in r.message.resource_metrics:
                for sm in rm.scope_metrics:
                    names.update(m.name for m in sm.metrics)
        return names

    def metrics(self, name: str) -> list[Any]:
        out = []
        for r in list(self.received):
            if r.path != "/v1/metrics":
                continue
            for rm in r.message.resource_metrics:
                for sm in rm.scope_metrics:
                    out.extend(m for m in sm.metrics if m.name == name)
        return out


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attributes(kvs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}
