"""Open access (SLIPSTREAM_AUTH_BACKEND=default) is for loopback only, unless explicitly allowed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from slipstream.cli import app as cli
from slipstream.cli.api import check_open_access
from slipstream.config import Settings


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_open_access_off_loopback_is_refused(tmp_path, host):
    with pytest.raises(PermissionError, match="SLIPSTREAM_ALLOW_OPEN_ACCESS"):
        check_open_access(Settings(home=tmp_path, auth_backend="default", host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.53"])
def test_open_access_on_loopback_is_allowed(tmp_path, host):
    check_open_access(Settings(home=tmp_path, auth_backend="default", host=host))


@pytest.mark.parametrize("backend", ["basic_auth", "deny_all"])
def test_authenticated_backends_may_bind_anywhere(tmp_path, backend):
    check_open_access(Settings(home=tmp_path, auth_backend=backend, host="0.0.0.0"))


def test_explicit_allow_lets_open_access_bind_anywhere(tmp_path):
    check_open_access(Settings(home=tmp_path, auth_backend="default", host="0.0.0.0", allow_open_access=True))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLIPSTREAM_AUTH_BACKEND": "default"}, "Refusing to serve without authentication"),
        ({"SLIPSTREAM_AUTH_BACKEND": "basic-auth"}, "is not one of"),
    ],
    ids=["open access on 0.0.0.0", "misspelt backend"],
)
def test_api_command_refuses_before_serving(tmp_path, monkeypatch, env, message):
    monkeypatch.setenv("SLIPSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("SLIPSTREAM_HOST", "127.0.0.1")  # `api --host` writes it; monkeypatch restores it
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLIPSTREAM_ALLOW_OPEN_ACCESS", raising=False)
    served = []
    monkeypatch.setattr("slipstream.cli.api.uvicorn.run", lambda *a, **k: served.append(a))
    result = CliRunner().invoke(cli, ["api", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert served == []
