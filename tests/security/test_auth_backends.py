"""SLIPSTREAM_AUTH_BACKEND, checked on every operation the spec declares (a new one is covered automatically)."""

from __future__ import annotations

import base64

import pytest

from slipstream import passwords
from slipstream.api.app import create_app, load_spec
from slipstream.config import Settings
from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.security.conftest import GOOD, PASSWORD, USERNAME, WRONG, basic
from tests.security.support import OPERATION_IDS, OPERATIONS, assert_problem, call

BASE = "/api/experimental"
# Headers a basic_auth server must refuse: none of them is a valid Basic credential of a known user.
REFUSED_HEADERS = {
    "bearer token": "Bearer abc.def.ghi",
    "scheme only": "Basic",
    "scheme and spaces": "Basic    ",
    "not base64": "Basic !!!not-base64!!!",
    "no colon": "Basic " + base64.b64encode(b"auditor").decode(),
    "empty username": "Basic " + base64.b64encode(b":" + PASSWORD.encode()).decode(),
    "empty password": "Basic " + base64.b64encode(USERNAME.encode() + b":").decode(),
    "unknown user": basic("nobody", PASSWORD)["Authorization"],
    "username case differs": basic(USERNAME.upper(), PASSWORD)["Authorization"],
    "password with a suffix": basic(USERNAME, PASSWORD + " ")["Authorization"],
    "sql injection as username": basic("' OR '1'='1", PASSWORD)["Authorization"],
    "sql injection as password": basic(USERNAME, "' OR '1'='1")["Authorization"],
    "overlong credentials": "Basic " + base64.b64encode(b"a:" + b"x" * 10_000).decode(),
}


def assert_unauthorized(response) -> None:
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('Basic realm="Slipstream"')
    assert response.headers["cache-control"] == "no-store"


def test_every_operation_in_the_spec_requires_basic_auth():
    assert OPERATIONS, "no operations found in the spec"
    for operation in OPERATIONS:
        assert operation.security == [{"basicAuth": []}], f"{operation.id} is not protected by basicAuth"
    scheme = load_spec()["components"]["securitySchemes"]["basicAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "basic"


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_basic_auth_without_credentials_is_401(module_apps, operation):
    app = module_apps["basic_auth"]
    before = app.snapshot()
    assert_unauthorized(call(app.client, operation))
    assert app.snapshot() == before


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_basic_auth_with_a_wrong_password_is_401(module_apps, operation):
    app = module_apps["basic_auth"]
    before = app.snapshot()
    assert_unauthorized(call(app.client, operation, WRONG))
    assert app.snapshot() == before


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_deny_all_is_403_with_or_without_credentials(module_apps, operation):
    app = module_apps["deny_all"]
    before = app.snapshot()
    for headers in ({}, GOOD, WRONG):
        response = call(app.client, operation, headers)
        assert_problem(response, 403)
        assert "www-authenticate" not in response.headers
    assert app.snapshot() == before


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_default_backend_is_open(module_apps, operation):
    response = call(module_apps["default"].client, operation)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("operation", OPERATIONS, ids=OPERATION_IDS)
def test_basic_auth_with_good_credentials_passes(module_apps, operation):
    response = call(module_apps["basic_auth"].client, operation, GOOD)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("header", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
def test_basic_auth_refuses_malformed_or_wrong_credentials(module_apps, header):
    assert_unauthorized(module_apps["basic_auth"].client.get(f"{BASE}/pools", headers={"Authorization": header}))


def test_scheme_name_is_case_insensitive(module_apps):
    token = GOOD["Authorization"].split(" ", 1)[1]
    response = module_apps["basic_auth"].client.get(f"{BASE}/test", headers={"Authorization": f"bAsIc {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("backend", ["basic_auth", "deny_all", "default"])
def test_the_spec_and_its_ui_are_readable_without_credentials(module_apps, backend):
    client = module_apps[backend].client
    served = client.get(f"{BASE}/openapi.json")
    assert served.status_code == 200
    assert set(served.json()["paths"]) == set(load_spec()["paths"])
    assert client.get(f"{BASE}/ui/").status_code == 200


def test_served_spec_says_what_the_backend_requires(module_apps):
    assert module_apps["basic_auth"].client.get(f"{BASE}/openapi.json").json()["security"] == [{"basicAuth": []}]
    assert module_apps["default"].client.get(f"{BASE}/openapi.json").json()["security"] == []


def test_unknown_backend_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="SLIPSTREAM_AUTH_BACKEND"):
        create_app(Settings(home=tmp_path, auth_backend="kerberos"))


def test_utf8_password(secure):
    with session_scope(secure.settings.database_url) as session:
        users.create_user(session, "zoe", "pässwörd-ünïcode", actor={"username": None, "remote_addr": None})
    response = secure.client.get(f"{BASE}/test", headers=basic("zoe", "pässwörd-ünïcode"))
    assert response.status_code == 200


def test_verified_credentials_are_cached_not_rehashed(secure, fresh_credentials_cache, monkeypatch):
    calls = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr("slipstream.api.auth.verify_password", counting)
    for _ in range(5):
        assert secure.client.get(f"{BASE}/test", headers=GOOD).status_code == 200
    assert len(calls) == 1
    # Failures are never cached: each wrong password pays the slow hash again.
    for _ in range(2):
        assert secure.client.get(f"{BASE}/test", headers=WRONG).status_code == 401
    assert len(calls) == 3


def test_reset_password_and_delete_take_effect_despite_the_cache(secure, fresh_credentials_cache):
    actor = {"username": None, "remote_addr": None}
    assert secure.client.get(f"{BASE}/test", headers=GOOD).status_code == 200
    with session_scope(secure.settings.database_url) as session:
        users.reset_password(session, USERNAME, "a brand new password", actor=actor)
    assert_unauthorized(secure.client.get(f"{BASE}/test", headers=GOOD))
    new = basic(USERNAME, "a brand new password")
    assert secure.client.get(f"{BASE}/test", headers=new).status_code == 200
    with session_scope(secure.settings.database_url) as session:
        users.delete_user(session, USERNAME, actor=actor)
    assert_unauthorized(secure.client.get(f"{BASE}/test", headers=new))
