"""Failed-credential limits: what keeps a wrong-password flood from costing more than a refusal.

- FailureWindow counts failed Basic-auth attempts per key (a client address, a username) over a
  sliding window. Past the limit a key is locked out until its oldest failure leaves the window:
  the answer is 429 with `Retry-After`, and no argon2 hash is computed.
- VerificationSlots bounds how many argon2 verifications one worker runs at once. An attempt that
  finds every slot busy is refused at once (429), never queued: a queue behind slow hashes is
  exactly what lets a flood starve everyone else.
- CredentialGuard puts both together with the log (once per offender per window) and the audit log.

State is per worker process and per app (several workers each count on their own; the limit holds
per worker, which still bounds an attacker to workers x limit guesses a minute).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from slipstream.api.http import send_error
from slipstream.config import Settings

log = logging.getLogger("slipstream.api.auth")

WINDOW_SECONDS = 60.0
# How many distinct addresses and usernames are tracked at once; beyond it, the oldest entries go.
MAX_TRACKED_KEYS = 100_000
AUTH_LOCKOUT = "auth.lockout"


class FailureWindow:
    """Failures per key over a sliding window of `window` seconds; `limit` of them lock the key out."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[Any, deque[float]] = {}

    def retry_after(self, key: Any) -> float:
        """Seconds until `key` may try again (0: it may try now)."""
        if self.limit <= 0:
            return 0.0
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return failures[0] + self.window - now

    def count(self, key: Any) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        horizon = self.clock() - self.window
        return sum(1 for failure in failures if failure > horizon)

    def add_failure(self, key: Any) -> bool:
        """Count one failure; True when this one reaches the limit (the key is locked out from now)."""
        if self.limit <= 0:
            return False
        failures = self._failures.get(key)
        if failures is None:
            if len(self._failures) >= self.max_keys:
                self._make_room()
            failures = self._failures[key] = deque(maxlen=self.limit)
        was_locked = len(failures) >= self.limit
        failures.append(self.clock())
        # Attempts already past the check when the key locked may still fail: only the first locks it.
        return not was_locked and len(failures) >= self.limit

    @property
    def any_failures(self) -> bool:
        return bool(self._failures)

    def clear(self) -> None:
        self._failures.clear()

    def _make_room(self) -> None:
        horizon = self.clock() - self.window
        self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > horizon}
        # Still full of live keys: forget the oldest tenth rather than grow without bound.
        for key in list(self._failures)[: max(1, len(self._failures) - self.max_keys * 9 // 10)]:
            del self._failures[key]


class VerificationSlots:
    """At most `limit` argon2 verifications at once in this worker; no waiting for a slot."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.active = 0

    @property
    def full(self) -> bool:
        return self.active >= self.limit

    def try_acquire(self) -> bool:
        # One event loop per worker: the check and the increment happen without an await between.
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


class CredentialGuard:
    """The limits one app applies to failed credentials, with their log and audit trail."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        limit = settings.auth_failures_per_minute
        self.failures = FailureWindow(limit, WINDOW_SECONDS, clock)
        self.slots = VerificationSlots(settings.auth_max_concurrent_verifications)
        self.lockout_delay = settings.auth_lockout_delay
        # HMACs of (username, password) verified within the window, so a lockout never stops a client
        # whose credentials are known good: checked only while some address or username has failures.
        self._key = secrets.token_bytes(32)
        self._good: dict[bytes, float] = {}

    def _credential_digest(self, username: str, password: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (username, password):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(8, "big") + data)
        return mac.digest()

    def remember_good(self, username: str, password: str) -> None:
        now = time.monotonic()
        if len(self._good) >= MAX_TRACKED_KEYS:
            self._good = {k: v for k, v in self._good.items() if v > now}
            if len(self._good) >= MAX_TRACKED_KEYS:
                self._good.clear()
        self._good[self._credential_digest(username, password)] = now + WINDOW_SECONDS

    def known_good(self, username: str, password: str) -> bool:
        expiry = self._good.get(self._credential_digest(username, password))
        return expiry is not None and expiry > time.monotonic()

    @property
    def clock(self) -> Callable[[], float]:
        return self.failures.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.failures.clock = clock

    def has_failed(self, address: str | None) -> bool:
        """Whether the address has a failed login in the window."""
        return self.failures.count(("addr", address)) > 0

    def locked_for(self, address: str | None, username: str) -> float:
        """Seconds the address or the username is still locked out (0: not locked)."""
        return max(self.failures.retry_after(("addr", address)), self.failures.retry_after(("user", username)))

    def record_failure(self, address: str | None, username: str) -> None:
        for kind, key in (("address", ("addr", address)), ("username", ("user", username))):
            if self.failures.add_failure(key):
                self._report_lockout(kind, address, username)

    def _report_lockout(self, kind: str, address: str | None, username: str) -> None:
        """Once per offender per window: the failure that reaches the limit is the only one reported."""
        limit = self.failures.limit
        log.warning(
            "Locked out %s %r for up to %.0f s after %d failed logins (last username %r, from %s)",
            kind,
            address if kind == "address" else username,
            self.failures.window,
            limit,
            username,
            address,
        )
        try:
            from slipstream.services import audit
            from slipstream.storage.db import session_scope

            with session_scope(self.settings.database_url) as session:
                audit.record(
                    session,
                    AUTH_LOCKOUT,
                    username=username,
                    remote_addr=address,
                    target=kind,
                    extra={"failures": limit, "window_seconds": int(self.failures.window)},
                )
        except Exception:  # noqa: BLE001 - the refusal matters more than its audit row
            log.exception("Could not record an auth lockout in the audit log")


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


_guards: dict[int, CredentialGuard] = {}


def guard_for(settings: Settings) -> CredentialGuard:
    """The guard of the app serving these settings (one per create_app call, so tests never share counts)."""
    guard = _guards.get(id(settings))
    if guard is None or guard.settings is not settings:
        guard = _guards[id(settings)] = CredentialGuard(settings)
    return guard


def _basic_pair(headers: list[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() != b"basic" or len(token) > 8192:
                return None
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return None
            username, colon, password = decoded.partition(":")
            return (username, password) if colon and username else None
    return None


class LockoutMiddleware:
    """Refuses a locked-out client's Basic credentials before any routing, validation or database work.

    The full check (auth.basic_auth_user) refuses the same requests; this only makes the refusal
    cheap, so a flood of wrong passwords costs the worker next to nothing. The answer comes after
    SLIPSTREAM_AUTH_LOCKOUT_DELAY seconds (a sleeping coroutine, no CPU): a client that ignores
    `Retry-After` then sends one guess per connection per delay, not thousands a second.
    Credentials verified within the window go through, so a lockout never stops a known-good client.
    """

    def __init__(
        self, app: ASGIApp, settings: Settings, protected_prefixes: tuple[str, ...], open_paths: tuple[str, ...]
    ) -> None:
        self.app = app
        self.guard = guard_for(settings)
        self.prefix = protected_prefixes
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard = self.guard
        if scope["type"] != "http" or not (guard.failures.any_failures or guard.slots.full):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(self.prefix) and not path.startswith(self.open_paths):
            pair = _basic_pair(scope["headers"])
            if pair is not None and not guard.known_good(*pair):
                client = scope.get("client")
                locked_for = guard.locked_for(client[0] if client else None, pair[0])
                if locked_for > 0:
                    if guard.lockout_delay > 0:
                        await asyncio.sleep(guard.lockout_delay)
                    retry_after = retry_after_header(locked_for)
                    await send_error(
                        send, 429, TOO_MANY_FAILURES.format(seconds=retry_after),
                        [(b"retry-after", retry_after.encode())], scope=scope,
                    )  # fmt: skip
                    return
                if guard.slots.full:
                    # Not verified within the window, so not in the cache either: it would need a hash.
                    # Refused at once, unless this address failed already: then after the delay, so a
                    # guesser hammering the busy server is slowed like a locked-out one.
                    if guard.lockout_delay > 0 and guard.has_failed(client[0] if client else None):
                        await asyncio.sleep(guard.lockout_delay)
                    await send_error(send, 429, BUSY, [(b"retry-after", b"1")], scope=scope)
                    return
        await self.app(scope, receive, send)


BUSY = "Too Many Requests: the server is busy verifying other logins; try again in 1 s"
TOO_MANY_FAILURES = (
    "Too Many Requests: too many failed logins from this address or for this username; try again in {seconds} s"
)
