"""Authentication backends (SLIPSTREAM_AUTH_BACKEND): basic_auth (default), deny_all, default (open).

The spec declares the `basicAuth` scheme on every operation and stays the one place that says WHICH
operations are protected; this module decides HOW the declared scheme answers:

- basic_auth: HTTP Basic against the `user` table (argon2 hashes). No, malformed or wrong credentials
  -> 401 with `WWW-Authenticate: Basic realm="Slipstream"`.
- deny_all: every protected operation -> 403, with or without credentials (prepare_spec_security marks
  the schemes, SlipstreamBasicSecurityHandler refuses).
- default: prepare_spec_security drops the security requirements, so nothing is checked.

Errors are ProblemExceptions, so app.py renders them in the one JSON error shape.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
import inspect
import secrets
import threading
import time
from http import HTTPStatus
from typing import Any

import anyio.to_thread
from connexion.exceptions import ProblemException
from connexion.security import BasicSecurityHandler
from sqlalchemy import select

from slipstream.api.auth_limits import BUSY, TOO_MANY_FAILURES, guard_for, retry_after_header
from slipstream.api.http import current_settings
from slipstream.config import Settings
from slipstream.passwords import hash_password, verify_password
from slipstream.storage.db import get_engine
from slipstream.storage.models import User

BACKENDS = ("basic_auth", "deny_all", "default")
REALM = "Slipstream"
# Set by prepare_spec_security on the spec's security schemes when SLIPSTREAM_AUTH_BACKEND=deny_all.
BACKEND_KEY = "x-slipstream-backend"
# Credentials longer than this are refused before any lookup or hashing.
MAX_CREDENTIAL_LENGTH = 4096
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

NO_CREDENTIALS = "Unauthorized: this API needs HTTP Basic credentials of a Slipstream user"
MALFORMED_CREDENTIALS = "Unauthorized: the Authorization header is not valid HTTP Basic credentials"
INVALID_CREDENTIALS = "Unauthorized: invalid username or password"
DENIED = "Forbidden: the API is closed to everyone (SLIPSTREAM_AUTH_BACKEND=deny_all)"


class AuthProblem(ProblemException):
    """A 401, 403 or 429 rendered by app.py in the JSON error shape, headers included."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status=status, title=HTTPStatus(status).phrase, detail=message, headers=headers)


def unauthorized(message: str) -> AuthProblem:
    return AuthProblem(401, message, {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})


def forbidden(message: str = DENIED) -> AuthProblem:
    return AuthProblem(403, message)


def check_backend(settings: Settings) -> None:
    if settings.auth_backend not in BACKENDS:
        raise ValueError(f"SLIPSTREAM_AUTH_BACKEND={settings.auth_backend!r} is not one of: {', '.join(BACKENDS)}")


def prepare_spec_security(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The spec as this backend serves it; the spec on disk is never changed."""
    check_backend(settings)
    if settings.auth_backend == "basic_auth":
        return spec
    prepared = copy.deepcopy(spec)
    if settings.auth_backend == "deny_all":
        for scheme in prepared.get("components", {}).get("securitySchemes", {}).values():
            scheme[BACKEND_KEY] = "deny_all"
        return prepared
    # Open access: no requirement anywhere, so the served spec tells clients no credentials are needed.
    prepared["security"] = []
    for path_item in prepared.get("paths", {}).values():
        for method in _HTTP_METHODS:
            if isinstance(path_item.get(method), dict):
                path_item[method].pop("security", None)
    return prepared


def _basic_credentials(header: str | None) -> tuple[str, str]:
    """(username, password) from an Authorization header, or a 401 naming what is wrong."""
    if not header or not header.strip():
        raise unauthorized(NO_CREDENTIALS)
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized(NO_CREDENTIALS)
    value = value.strip()
    if not value or len(value) > MAX_CREDENTIAL_LENGTH:
        raise unauthorized(MALFORMED_CREDENTIALS)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise unauthorized(MALFORMED_CREDENTIALS) from None
    # RFC 7617 recommends UTF-8 (curl and browsers send it); old clients send Latin-1.
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise unauthorized(MALFORMED_CREDENTIALS)
    return username, password


async def _deny(_request: Any) -> None:
    raise forbidden()


class SlipstreamBasicSecurityHandler(BasicSecurityHandler):
    """Connexion's Basic handler, answering 401 with WWW-Authenticate (Connexion sends none) or 403 (deny_all)."""

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any):
        if security_scheme.get(BACKEND_KEY) == "deny_all":
            return _deny
        return super().get_fn(security_scheme, required_scopes)

    def _get_verify_func(self, basic_info_func):
        async def verify(request) -> dict[str, Any]:
            username, password = _basic_credentials(request.headers.get("Authorization"))
            if basic_info_func is basic_auth_user:
                client = request.scope.get("client")
                identity = await basic_auth_user(username, password, remote_addr=client[0] if client else None)
            else:
                identity = basic_info_func(username, password)
            while inspect.isawaitable(identity):
                identity = await identity
            if identity is None:
                raise unauthorized(INVALID_CREDENTIALS)
            return identity

        return verify


# Passed to Connexion's add_api: `type: http, scheme: basic` schemes use our handler.
SECURITY_MAP = {"basic": SlipstreamBasicSecurityHandler}


class VerifiedCredentials:
    """Recently verified credentials, so an authenticated client pays argon2 once a minute, not per request.

    Keys are HMAC-SHA-256 digests (with a per-process random key) of username, password and the stored
    hash: never the plaintext, and a password reset or a deleted user stops matching at once.
    """

    def __init__(self, ttl: float = 60.0, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._expiry: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def digest(self, username: str, password: str, password_hash: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (username, password, password_hash):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(8, "big") + data)
        return mac.digest()

    def __contains__(self, digest: bytes) -> bool:
        expiry = self._expiry.get(digest)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            with self._lock:
                self._expiry.pop(digest, None)
            return False
        return True

    def add(self, digest: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._expiry) >= self.max_entries:
                self._expiry = {k: v for k, v in self._expiry.items() if v >= now}
                if len(self._expiry) >= self.max_entries:
                    self._expiry.clear()
            self._expiry[digest] = now + self.ttl

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()


verified_credentials = VerifiedCredentials()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _stored_hash(database_url: str, username: str) -> str | None:
    with get_engine(database_url).connect() as connection:
        return connection.scalar(select(User.password_hash).where(User.username == username))


async def basic_auth_user(
    username: str, password: str, required_scopes: Any = None, *, remote_addr: str | None = None
) -> dict[str, str] | None:
    """Connexion's x-basicInfoFunc: the user's identity when the password matches, else None (401).

    In order of cost: credentials verified within the last minute are served from the cache (one
    indexed lookup and an HMAC); an address or username past SLIPSTREAM_AUTH_FAILURES_PER_MINUTE
    hears 429 without a hash; with every verification slot busy, 429 at once; only then argon2, in a
    worker thread so the event loop keeps serving while it hashes.
    """
    if len(username) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        return None
    guard = guard_for(current_settings())
    stored = _stored_hash(current_settings().database_url, username)
    digest = None
    if stored is not None:
        digest = verified_credentials.digest(username, password, stored)
        if digest in verified_credentials:
            return {"sub": username}
    locked_for = guard.locked_for(remote_addr, username)
    if locked_for > 0:
        raise too_many_failures(locked_for)
    if not guard.slots.try_acquire():
        raise AuthProblem(429, BUSY, {"Retry-After": "1"})
    try:
        # An unknown user costs the same as a wrong password, so timing does not tell which usernames exist.
        verified = await anyio.to_thread.run_sync(verify_password, stored or _dummy_hash(), password)
    finally:
        guard.slots.release()
    if stored is None or not verified:
        guard.record_failure(remote_addr, username)
        return None
    verified_credentials.add(digest)
    guard.remember_good(username, password)
    return {"sub": username}


def too_many_failures(seconds: float) -> AuthProblem:
    retry_after = retry_after_header(seconds)
    return AuthProblem(429, TOO_MANY_FAILURES.format(seconds=retry_after), {"Retry-After": retry_after})
