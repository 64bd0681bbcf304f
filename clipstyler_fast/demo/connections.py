"""The demo's HTTP plumbing under load: a threading server that handles a bounded number of
requests at once, reads every body it refuses, and logs one line per problem.

* At most ``max_requests`` requests are handled at once, so at most ``max_requests`` x
  ``max_upload`` bytes of bodies are in memory. A request that finds no free place within a
  second is answered 503 with ``Retry-After`` and a JSON ``{"error": ...}``.
* A refused or over-sized body is read before the answer: closing a socket with unread data
  makes the kernel reset the connection, and the client would see the reset, not the answer.
* The listen backlog is a few times ``max_requests``, so that a burst of clients waits to be
  accepted instead of being dropped or reset by the kernel.
* A client that goes away mid-request (or any other error of a handler) is one line on stderr,
  never a traceback.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from clipstyler_fast.demo.styles import RETRY_AFTER_S

# Seconds a request waits for a free place before it is refused: short requests (progress, images)
# come and go in milliseconds, and a burst of them should be served, not refused.
ADMIT_WAIT_S = 1.0
# Seconds a connection may stay silent (between requests, or mid-body) before it is closed, so
# that a stalled client cannot hold one of the places for good.
IDLE_TIMEOUT_S = 60
# A refused or over-sized body is read and dropped in pieces of this size.
_DISCARD_CHUNK = 64 * 1024
# An over-sized body is read and dropped up to this size (so that the browser sees the answer);
# beyond it the connection is closed unread.
_DRAIN_LIMIT = 256 * 1024 * 1024
# What a client that goes away raises, reading or writing.
GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def say(message: str) -> None:
    """One line on the console (stderr): the demo's only log."""
    print(f"demo: {message}", file=sys.stderr, flush=True)


class BoundedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that admits ``max_requests`` requests at once (see
    :class:`BoundedHandler`), listens with a backlog to match, and logs one line per error."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BoundedHandler], max_requests: int, max_upload: int) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, not {max_requests}")
        self.max_requests = max_requests
        self.max_upload = max_upload
        self.slots = threading.BoundedSemaphore(max_requests)
        self.request_queue_size = max(64, 4 * max_requests)  # the listen backlog, read by server_activate within __init__
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of the standard library's traceback."""
        error = sys.exc_info()[1]
        host = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, GONE):
            say(f"client {host} disconnected")
            return
        first = (str(error).strip().splitlines() or [""])[0]
        say(f"error serving {host}: {type(error).__name__}{': ' + first if first else ''}")


class BoundedHandler(BaseHTTPRequestHandler):
    """A JSON API's handler for :class:`BoundedHTTPServer`: subclasses route in :meth:`_get` and
    :meth:`_post`, which run only in one of the server's places, and read bodies with :meth:`_body`."""

    server: BoundedHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def _get(self) -> None:
        self._error(404, "not found")

    def _post(self) -> None:
        self._error(404, "not found")

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        self._admitted(self._get)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802 (the base class's name)
        self._admitted(self._post)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        """Requests are not logged: a demo's console shows only its address and errors."""

    def handle_one_request(self) -> None:
        """One request; a client that goes away meanwhile is one line on the console, not a traceback."""
        # Left from the previous request on this connection until the next request line is parsed.
        self.command, self.path = None, ""  # type: ignore[assignment]
        try:
            super().handle_one_request()
        except GONE:
            self.close_connection = True
            # The path comes from the client: safe for one console line, no control characters, at most 200 long.
            path = "".join(c if c.isprintable() else "?" for c in urlsplit(self.path).path[:200])
            during = f" during {self.command} {path}" if self.command else ""
            say(f"client {self.client_address[0]} disconnected{during}")

    def _admitted(self, route: Callable[[], None]) -> None:
        """Run ``route`` in one of the server's places; when none frees up in time, read the body and
        answer 503."""
        server = self.server
        if not server.slots.acquire(timeout=ADMIT_WAIT_S):
            length = self._length()
            if 0 <= length <= server.max_upload:
                self._discard(length)
                self._busy(f"the server is busy: {server.max_requests} requests are being handled; try again in a few seconds")
            else:
                self._too_large(length)
            return
        try:
            route()
        finally:
            server.slots.release()

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json", headers)

    def _busy(self, message: str) -> None:
        """503: a bound is reached; the client may try again after :data:`RETRY_AFTER_S` seconds."""
        self._error(HTTPStatus.SERVICE_UNAVAILABLE, message, {"Retry-After": str(RETRY_AFTER_S)})

    def _length(self) -> int:
        """The request's Content-Length (0 when absent), or -1 when it is not a number."""
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return -1

    def _read(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) < length:  # the client closed its side mid-body
            raise ConnectionAbortedError(f"the body ended after {len(data)} of {length} bytes")
        return data

    def _discard(self, length: int) -> None:
        """Read and drop ``length`` bytes of body, a piece at a time."""
        while length > 0:
            length -= len(self._read(min(_DISCARD_CHUNK, length)))

    def _too_large(self, length: int) -> None:
        """Answer 413, after reading the body when it is not absurdly large."""
        if 0 < length <= _DRAIN_LIMIT:
            self._discard(length)
        else:
            self.close_connection = True
        mb = self.server.max_upload / (1024 * 1024)
        self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the upload is larger than the limit of {mb:g} MB")

    def _body(self) -> bytes | None:
        """The request body, or None (after answering 413) when it is larger than the upload limit."""
        length = self._length()
        if 0 <= length <= self.server.max_upload:
            return self._read(length)
        self._too_large(length)
        return None
