"""What stands in front of the HTTP service's routes: the Host header, the token, the body size limit, and the
figures of every request for GET /metrics (Prometheus's text format, through prometheus_client).

One ASGI middleware does it all before FastAPI reads a byte of the body, so a request without the token or with
too large a body costs the service almost nothing, whatever its Content-Length header claims.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Reachable without the token: whether the service is up, and its documentation (which holds no data).
OPEN_PATHS = frozenset({"/", "/health", "/ready", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
OPEN_PREFIXES = ("/static-offline-docs/",)
KNOWN_PATHS = frozenset({"/predict", "/explain", "/model", "/metrics"}) | OPEN_PATHS
TOKEN_VARIABLE = "TRAINYARD_SERVE_TOKEN"


def host_name(header: str) -> str:
    """Give back the Host header without its port: "127.0.0.1:8000" → "127.0.0.1", "[::1]:80" → "[::1]"."""
    if header.startswith("["):
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class Figures:
    """The service's counters and histograms, kept in their own registry (several services can live in one test
    process); with several worker processes, prometheus_client's multiprocess mode adds them up."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter("trainyard_requests", "HTTP requests answered, by path and status",
                                ["path", "status"], registry=self.registry)
        self.errors = Counter("trainyard_errors", "Requests answered with an error (status 400 or more), by status",
                              ["status"], registry=self.registry)
        self.seconds = Histogram("trainyard_request_seconds", "Time to answer a request, by path", ["path"],
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                                 registry=self.registry)
        self.batch_rows = Histogram("trainyard_batch_inputs", "Inputs per call of the model (adaptive batching)",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), registry=self.registry)
        self.batch_requests = Histogram("trainyard_batch_requests", "Requests answered per call of the model",
                                        buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)

    def observe(self, path: str, status: int, seconds: float) -> None:
        path = path if path in KNOWN_PATHS else "other"
        self.requests.labels(path, str(status)).inc()
        self.seconds.labels(path).observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()

    def batch(self, rows: int, requests: int) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)

    def text(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


async def _answer(send, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: checks the Host header and the token, reads the body up to max_body bytes (413 past it),
    and counts every request in figures."""

    def __init__(self, app, *, max_body: int, figures: Figures, token: str | None = None,
                 allowed_hosts: frozenset[str] | None = None):
        self.app, self.max_body, self.figures, self.token = app, max_body, figures, token
        self.allowed_hosts = allowed_hosts

    def _refusal(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> tuple[int, str, list] | None:
        if self.allowed_hosts is not None:
            if host_name(headers.get(b"host", b"").decode("latin-1")) not in self.allowed_hosts:
                return 421, (f"This service answers requests addressed to {', '.join(sorted(self.allowed_hosts))} "
                             "only. Start it with --host to listen on another address."), []
        path = scope["path"]
        if self.token and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                words = "The token is not right" if given else "This service needs a token"
                return 401, (f"{words}: send the header 'Authorization: Bearer <token>' with the token the service "
                             "was started with."), [(b"www-authenticate", b"Bearer")]
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, self._too_large(), []
        return None

    def _too_large(self) -> str:
        return f"The request is larger than {self.max_body // 2**20} MB. Send fewer inputs at a time."

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        headers = dict(scope["headers"])

        async def counted_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope, headers)
            if refusal is not None:
                await _answer(counted_send, *refusal)
                return
            if scope["method"] in ("POST", "PUT", "PATCH"):
                # The body is read here, counting as it comes: a chunked body has no length to trust.
                chunks, size, more = [], 0, True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    if size > self.max_body:
                        await _answer(counted_send, 413, self._too_large(), [(b"connection", b"close")])
                        return
                    more = message.get("more_body", False)
                body, sent = b"".join(chunks), False

                async def replay():
                    nonlocal sent
                    if sent:
                        return await receive()  # after the body: the client's disconnect, when it comes
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}

                await self.app(scope, replay, counted_send)
            else:
                await self.app(scope, receive, counted_send)
        finally:
            self.figures.observe(scope["path"], status, time.perf_counter() - started)
