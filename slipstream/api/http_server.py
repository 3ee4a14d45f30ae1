"""Connection discipline for the API server: uvicorn's httptools protocol with the limits it lacks.

uvicorn has an idle keep-alive timeout but nothing bounds how long a client may take to send a
request's headers or body, nor how large the headers grow, and its concurrency limit answers in
plain text. This protocol adds, per connection:

- a header timeout (SLIPSTREAM_HTTP_HEADER_TIMEOUT): from the connection's start, or the end of the
  previous response, to the end of the request's headers; past it, 408 and the connection is closed
  (a client sending half a header and then a line every few seconds is cut off);
- a body timeout (SLIPSTREAM_HTTP_BODY_TIMEOUT): from the end of the headers to the end of the body;
- a header size limit (SLIPSTREAM_HTTP_MAX_HEADER_BYTES): 431 and close;
- a cap on open connections per worker (SLIPSTREAM_HTTP_MAX_CONNECTIONS): a connection beyond it gets
  503 with `Retry-After` as soon as its headers are read, and is closed; it also gets a short header
  timeout, so connections over the cap never hold a file descriptor for long.

Every refusal is the same JSON error body as the API's other errors. uvicorn loads this class by
name in each worker (`http="slipstream.api.http_server:GuardedHttpToolsProtocol"`), so the limits come
from the worker's environment (`slipstream api` puts its settings there).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from http import HTTPStatus
from typing import Any

from slipstream.api.http import PROBLEM_JSON, problem_body, send_error
from slipstream.api.http_protocol import JsonErrorHttpToolsProtocol
from slipstream.config import Settings

log = logging.getLogger("slipstream.api")

# Connections over the cap are answered as soon as their headers arrive, or dropped after this long.
OVER_CAP_HEADER_TIMEOUT = 1.0
OVER_CAP = "Service Unavailable: the server has too many open connections; try again in {seconds} s"
HEADER_TIMEOUT = "Request Timeout: the request's headers did not arrive within {seconds:g} s"
BODY_TIMEOUT = "Request Timeout: the request's body did not arrive within {seconds:g} s"
HEADERS_TOO_LARGE = "Request Header Fields Too Large: the request's headers exceed {limit} bytes"
RETRY_AFTER_SECONDS = 1


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


def raw_error(status: int, message: str, extra_headers: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 error response, for answers given outside any request cycle."""
    body = problem_body(status, message)
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
        b"content-type: " + PROBLEM_JSON.encode(),
        b"content-length: " + str(len(body)).encode(),
        b"cache-control: no-store",
        b"connection: close",
        *(name + b": " + value for name, value in extra_headers),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def over_capacity(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI answer for a request on a connection over the cap."""
    message = OVER_CAP.format(seconds=RETRY_AFTER_SECONDS)
    headers = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode()), (b"connection", b"close")]
    await send_error(send, 503, message, headers)


class GuardedHttpToolsProtocol(JsonErrorHttpToolsProtocol):
    """Also answers what httptools cannot parse with the JSON error (JsonErrorHttpToolsProtocol)."""

    def __init__(self, *args: Any, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = settings or _settings()
        self.header_timeout = settings.http_header_timeout
        self.body_timeout = settings.http_body_timeout
        self.max_header_bytes = settings.http_max_header_bytes
        self.max_connections = settings.http_max_connections
        self._timer: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0
        self._over_cap = False
        self._refused = False
        self._awaiting_body = False

    # Timers
    def _arm(self, seconds: float, on_timeout: Any) -> None:
        self._disarm()
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, on_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, message: str) -> None:
        """Answer outside any request cycle and close: nothing more is read from this client."""
        self._disarm()
        self._refused = True
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(raw_error(status, message))
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()

    def _header_timed_out(self) -> None:
        self._timer = None
        if self._over_cap:
            self.transport.close()
            return
        log.info(
            "Closing a connection from %s: no complete request headers within %s s", self.client, self.header_timeout
        )
        self._refuse(408, HEADER_TIMEOUT.format(seconds=self.header_timeout))

    def _body_timed_out(self) -> None:
        self._timer = None
        log.info("Closing a connection from %s: no complete request body within %s s", self.client, self.body_timeout)
        self._refuse(408, BODY_TIMEOUT.format(seconds=self.body_timeout))

    def _start_reading_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0
        timeout = min(self.header_timeout, OVER_CAP_HEADER_TIMEOUT) if self._over_cap else self.header_timeout
        self._arm(timeout, self._header_timed_out)

    # Protocol interface
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._over_cap = self.max_connections > 0 and len(self.connections) > self.max_connections
        self._start_reading_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._refused:
            return
        # Timers are armed only for what is still missing once a packet is parsed: most requests
        # arrive whole in one packet, and then no timer is created and cancelled for them.
        if self._reading_headers:
            if self._header_bytes > self.max_header_bytes > 0:
                self._refuse(431, HEADERS_TOO_LARGE.format(limit=self.max_header_bytes))
            elif self._timer is None and self._header_bytes:
                self._start_reading_headers()
        elif self._awaiting_body and self._timer is None:
            self._arm(self.body_timeout, self._body_timed_out)

    # Parser callbacks
    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        self._reading_headers = False
        if self._refused:
            return
        if size > self.max_header_bytes > 0:
            self._refuse(431, HEADERS_TOO_LARGE.format(limit=self.max_header_bytes))
            return
        # Over the cap, _start_asgi_task answers 503 whatever the request, and the connection closes.
        super().on_headers_complete()
        self._disarm()
        if self._over_cap:
            self.cycle.keep_alive = False
            return
        self._awaiting_body = True

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if self._over_cap:
            app = over_capacity
        super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._awaiting_body = False
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next bytes, whenever they come, are the next request's headers; until then uvicorn's
        # keep-alive timeout bounds the idle wait, and the header timeout starts once a packet leaves
        # them unfinished.
        if not self.transport.is_closing():
            self._reading_headers = True
            self._header_bytes = 0
