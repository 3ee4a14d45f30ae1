"""Failed-credential limits: a wrong-password flood meets 429s without hashing, legitimate users are
served meanwhile, a locked-out address recovers after the window, argon2 runs at bounded concurrency."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from sqlalchemy import select

from slipstream import passwords
from slipstream.api.app import create_app
from slipstream.api.auth_limits import AUTH_LOCKOUT, WINDOW_SECONDS, guard_for
from slipstream.services import users
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog
from tests.security.conftest import CLIENT_ADDRESS, GOOD, USERNAME, WRONG, basic
from tests.security.support import assert_problem

BASE = "/api/experimental"
LIMIT = 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(make_app, fresh_credentials_cache):
    app = make_app("basic_auth", auth_failures_per_minute=LIMIT, auth_lockout_delay=0)
    clock = FakeClock()
    guard_for(app.settings).clock = clock
    return app, clock


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Every argon2 verification the server runs."""
    calls: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr("slipstream.api.auth.verify_password", counting)
    return calls


def client_from(app, address: str):
    return create_app(app.settings).test_client(client=(address, 50000))


def assert_too_many(response) -> int:
    body = assert_problem(response, 429)
    assert "too many failed logins" in body["error"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    return retry_after


def test_a_wrong_password_flood_meets_429_after_the_limit_without_hashing(limited, hashes):
    app, _clock = limited
    statuses = [app.client.get(f"{BASE}/test", headers=WRONG).status_code for _ in range(LIMIT)]
    assert statuses == [401] * LIMIT
    assert len(hashes) == LIMIT
    for _ in range(20):
        assert_too_many(app.client.get(f"{BASE}/test", headers=WRONG))
    assert len(hashes) == LIMIT, "a locked-out attempt must not cost a hash"


def test_unknown_usernames_count_against_the_address(limited, hashes):
    app, _clock = limited
    for number in range(LIMIT):
        assert app.client.get(f"{BASE}/test", headers=basic(f"nobody{number}", "x")).status_code == 401
    assert_too_many(app.client.get(f"{BASE}/test", headers=basic("nobody-else", "x")))
    assert len(hashes) == LIMIT


def test_a_correct_user_in_the_same_flood_is_served(limited, hashes):
    app, _clock = limited
    with session_scope(app.settings.database_url) as session:
        users.create_user(session, "zoe", "zoe's own password", actor={"username": None, "remote_addr": None})
    # The flooded username's own client logged in before the flood, from the attacker's address (a NAT).
    assert app.client.get(f"{BASE}/test", headers=GOOD).status_code == 200
    elsewhere = client_from(app, "198.51.100.20")
    for _ in range(LIMIT * 4):
        app.client.get(f"{BASE}/test", headers=WRONG)
        # Verified credentials keep their cache: served, even from the locked-out address.
        assert app.client.get(f"{BASE}/pools", headers=GOOD).status_code == 200
        # Another user from another address logs in and is served.
        assert elsewhere.get(f"{BASE}/pools", headers=basic("zoe", "zoe's own password")).status_code == 200
    assert_too_many(app.client.get(f"{BASE}/test", headers=WRONG))


def test_the_flooded_username_is_locked_from_every_address(limited, hashes):
    app, _clock = limited
    for number in range(LIMIT):
        client_from(app, f"198.51.100.{number}").get(f"{BASE}/test", headers=WRONG)
    # Each address failed once, but the username failed LIMIT times: a spread-out guess is stopped too.
    assert_too_many(client_from(app, "198.51.100.99").get(f"{BASE}/test", headers=WRONG))
    assert len(hashes) == LIMIT


def test_a_locked_out_address_recovers_after_the_window(limited, hashes):
    app, clock = limited
    for _ in range(LIMIT):
        app.client.get(f"{BASE}/test", headers=WRONG)
    retry_after = assert_too_many(app.client.get(f"{BASE}/test", headers=GOOD))
    clock.now += retry_after - 1
    assert_too_many(app.client.get(f"{BASE}/test", headers=GOOD))
    clock.now += 1.5
    assert app.client.get(f"{BASE}/test", headers=GOOD).status_code == 200


def test_the_window_slides(limited):
    app, clock = limited
    for _ in range(LIMIT - 1):
        assert app.client.get(f"{BASE}/test", headers=WRONG).status_code == 401
        clock.now += 20
    # The first failures have left the window: LIMIT - 1 attempts in any 60 s never lock out.
    for _ in range(3):
        assert app.client.get(f"{BASE}/test", headers=WRONG).status_code == 401
        clock.now += 20


def test_a_lockout_is_logged_and_audited_once_per_offender_per_window(limited, caplog):
    app, clock = limited
    with caplog.at_level(logging.WARNING, logger="slipstream.api.auth"):
        for _ in range(LIMIT * 3):
            app.client.get(f"{BASE}/test", headers=WRONG)
    lockouts = [r for r in caplog.records if "Locked out" in r.getMessage()]
    assert len(lockouts) == 2, [r.getMessage() for r in lockouts]  # the address and the username
    with session_scope(app.settings.database_url, write=False) as session:
        rows = list(session.scalars(select(AuditLog).where(AuditLog.event == AUTH_LOCKOUT)))
    assert sorted(row.target for row in rows) == ["address", "username"]
    assert {row.remote_addr for row in rows} == {CLIENT_ADDRESS}
    assert {row.username for row in rows} == {USERNAME}
    assert rows[0].extra == {"failures": LIMIT, "window_seconds": 60}


def test_a_locked_out_attempt_waits_for_its_429_but_the_spec_and_health_do_not(make_app, fresh_credentials_cache):
    app = make_app("basic_auth", auth_failures_per_minute=2, auth_lockout_delay=0.4)
    for _ in range(2):
        assert app.client.get(f"{BASE}/test", headers=WRONG).status_code == 401
    started = time.monotonic()
    assert_too_many(app.client.get(f"{BASE}/pools", headers=basic("anyone", "anything")))
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert app.client.get(f"{BASE}/openapi.json", headers=WRONG).status_code == 200
    assert app.client.get("/health", headers=WRONG).status_code in (200, 503)
    assert time.monotonic() - started < 0.4


def test_a_limit_of_zero_turns_the_limit_off(make_app, fresh_credentials_cache):
    app = make_app("basic_auth", auth_failures_per_minute=0)
    for _ in range(15):
        assert app.client.get(f"{BASE}/test", headers=WRONG).status_code == 401
    assert app.client.get(f"{BASE}/test", headers=GOOD).status_code == 200


def test_verifications_beyond_the_concurrency_bound_are_refused_at_once(make_app, fresh_credentials_cache, monkeypatch):
    app = make_app("basic_auth", auth_failures_per_minute=1000, auth_max_concurrent_verifications=2)
    real = passwords.verify_password

    def slow(password_hash: str, password: str) -> bool:
        import time

        time.sleep(1.0)
        return real(password_hash, password)

    monkeypatch.setattr("slipstream.api.auth.verify_password", slow)
    asgi = create_app(app.settings)

    async def flood() -> list[tuple[int, float, httpx.Response]]:
        transport = httpx.ASGITransport(app=asgi, client=("192.0.2.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def one(headers):
                response = await client.get(f"{BASE}/test", headers=headers)
                return response.status_code, loop.time() - started, response

            return await asyncio.gather(*(one(WRONG if i % 2 else GOOD) for i in range(6)))

    results = asyncio.run(flood())
    verified = [r for r in results if r[0] in (200, 401)]
    refused = [r for r in results if r[0] == 429]
    assert len(verified) == 2 and len(refused) == 4, [r[0] for r in results]
    for _status, elapsed, response in refused:
        # Queued behind a hash it would take a second or more; the margin is for a loaded machine.
        assert elapsed < 0.8, "an excess attempt must be refused at once, not queued behind a hash"
        body = assert_problem(response, 429)
        assert "busy" in body["error"] and response.headers["retry-after"] == "1"
