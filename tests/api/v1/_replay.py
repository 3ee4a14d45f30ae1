"""Replaying a golden exchange through the Connexion test client and comparing the answer with Airflow's."""

from __future__ import annotations

from typing import Any

from tests.api.v1.golden import assert_matches_golden, exchange


def replay(client, seq: int, **overrides: Any):
    """Send golden request `seq` as recorded (its body, its headers); the response."""
    request = exchange(seq)["request"]
    kwargs: dict[str, Any] = {}
    if request.get("body") is not None:
        kwargs["json"] = request["body"]
    if request.get("headers"):
        kwargs["headers"] = request["headers"]
    kwargs.update(overrides)
    return client.request(request["method"], request["url"], **kwargs)


def check(client, seq: int, *, also_volatile: tuple[str, ...] = ()):
    """Replay `seq`: status, content type and body must be Airflow's (volatile values aside)."""
    response = replay(client, seq)
    recorded = exchange(seq)["response"]
    assert response.status_code == recorded["status"], f"seq {seq}: {response.text}"
    assert response.headers["content-type"] == recorded["content_type"], f"seq {seq}"
    if recorded["status"] == 204:
        assert response.content == b"", f"seq {seq}"
    elif "json" in recorded["content_type"]:
        assert_matches_golden(response.json(), seq, also_volatile=also_volatile)
    else:
        assert response.text == recorded["body"], f"seq {seq}"
    return response
