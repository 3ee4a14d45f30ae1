"""What every route shares: unknown routes and methods, body limits and syntax, the served spec and UI,
and that a rejected write leaves the database as it was."""

from __future__ import annotations

import json

import pytest
import yaml

from slipstream.api.app import SPEC_PATH
from tests.api.support import (
    BASE,
    BASH_DAG,
    METHOD_NOT_ALLOWED,
    NOT_FOUND_ROUTE,
    assert_error,
    assert_error_matching,
    assert_json,
    set_pools,
    snapshot,
    trigger,
    update_task_instance,
)

LIMIT = 1024 * 1024
TOO_LARGE = f"Request body is larger than the limit of {LIMIT} bytes"
WRITES = [("POST", f"/dags/{BASH_DAG}/dag_runs"), ("POST", "/pools")]


class TestUnknownRoute:
    @pytest.mark.parametrize(
        "path",
        [
            f"{BASE}/nope",
            f"{BASE}",
            f"{BASE}/",
            f"{BASE}/dags",
            f"{BASE}/dags/{BASH_DAG}/nope",
            f"{BASE}/dags/{BASH_DAG}/dag_runs/2022-01-01/tasks",
            f"{BASE}/pools/a/b",
            f"{BASE}/lineage/{BASH_DAG}",
            "/nope",
            "/api/v2/dags",
        ],
    )
    def test_json_404(self, client, path):
        assert_error(client.get(path), 404, NOT_FOUND_ROUTE)


class TestWrongMethod:
    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("PUT", "/test", "GET, HEAD"),
            ("POST", "/test", "GET, HEAD"),
            ("DELETE", "/info", "GET, HEAD"),
            ("DELETE", "/pools", "GET, HEAD, POST"),
            ("PATCH", "/pools/default_pool", "DELETE, GET, HEAD"),
            ("POST", f"/dags/{BASH_DAG}/code", "GET, HEAD"),
            ("GET", f"/dags/{BASH_DAG}", "DELETE"),
            ("GET", f"/dags/{BASH_DAG}/delete_dag", "DELETE"),
            ("DELETE", f"/dags/{BASH_DAG}/dag_runs", "GET, HEAD, POST"),
            ("POST", f"/dags/{BASH_DAG}/paused/true", "GET, HEAD"),
            ("PUT", f"/lineage/{BASH_DAG}/2022-01-01", "GET, HEAD"),
        ],
    )
    def test_json_405(self, client, app_settings, method, path, allow):
        before = snapshot(app_settings)

        response = client.request(method, f"{BASE}{path}", json={"name": "x", "slots": 1})

        assert_error(response, 405, METHOD_NOT_ALLOWED)
        assert sorted(response.headers["allow"].split(", ")) == sorted(allow.split(", "))
        assert snapshot(app_settings) == before


class TestBodyLimit:
    @pytest.mark.parametrize(("method", "path"), WRITES)
    def test_one_byte_over_a_mebibyte_is_413(self, client, app_settings, method, path):
        before = snapshot(app_settings)

        response = client.request(method, f"{BASE}{path}", content=b" " * (LIMIT + 1))

        assert_error(response, 413, TOO_LARGE)
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize(("method", "path"), WRITES)
    def test_a_streamed_body_without_length_is_counted_too(self, client, app_settings, method, path):
        def chunks():
            for _ in range(LIMIT // 4096 + 1):
                yield b" " * 4096

        before = snapshot(app_settings)

        response = client.request(method, f"{BASE}{path}", content=chunks())

        assert_error(response, 413, TOO_LARGE)
        assert snapshot(app_settings) == before

    def test_exactly_a_mebibyte_is_accepted(self, client):
        head = b'{"name": "big", "slots": 1, "description": "'
        tail = b'"}'
        content = head + b"d" * (LIMIT - len(head) - len(tail)) + tail
        assert len(content) == LIMIT

        response = client.post(f"{BASE}/pools", content=content)

        assert response.status_code == 200
        assert len(response.json()["description"]) == LIMIT - len(head) - len(tail)


class TestBodySyntax:
    @pytest.mark.parametrize(
        "content",
        [b"{", b'{"name": }', b"{'name': 'a'}", b'{"name": "a",}', b"\xff\xfe", b'{"name": "\xff", "slots": 1}'],
        ids=["unclosed", "missing-value", "single-quotes", "trailing-comma", "not-utf8", "not-utf8-in-string"],
    )
    @pytest.mark.parametrize(("method", "path"), WRITES)
    def test_invalid_json(self, client, app_settings, method, path, content):
        before = snapshot(app_settings)

        assert_error_matching(
            client.request(method, f"{BASE}{path}", content=content), 400, r"^Request body is not valid JSON: "
        )
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("depth", [513, 1000, 100_000])
    @pytest.mark.parametrize(("method", "path"), WRITES)
    def test_deeply_nested_json(self, client, app_settings, method, path, depth):
        before = snapshot(app_settings)

        response = client.request(method, f"{BASE}{path}", content=b"[" * depth + b"]" * depth)

        assert_error_matching(response, 400, r"^Request body (is not valid JSON|nests JSON)")
        assert snapshot(app_settings) == before

    def test_deeply_nested_conf(self, client, app_settings):
        conf = b'{"a": ' * 1000 + b"1" + b"}" * 1000
        before = snapshot(app_settings)

        response = trigger(client, content=b'{"execution_date": "2022-01-01", "conf": ' + conf + b"}")

        assert_error(response, 400, "Request body nests JSON arrays or objects deeper than 512 levels")
        assert snapshot(app_settings) == before

    def test_nesting_up_to_the_limit_is_accepted(self, client, app_settings):
        conf = b'{"a": ' * 511 + b"1" + b"}" * 511

        response = trigger(client, content=b'{"run_id": "deep", "execution_date": "2022-01-01", "conf": ' + conf + b"}")

        assert response.status_code == 200, response.text


class TestRejectedWritesChangeNothing:
    """Every kind of refused write, against a database with runs, task instances and extra pools."""

    @pytest.fixture
    def populated(self, client, app_settings):
        set_pools(app_settings, [("experimental_1", 0, "experimental_1"), ("experimental_2", 1, "experimental_2")])
        assert trigger(client, {"run_id": "existing", "execution_date": "2022-01-01"}).status_code == 200
        return snapshot(app_settings)

    @pytest.mark.parametrize(
        ("method", "path", "content", "status"),
        [
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"run_id": "existing"}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"execution_date": "2022-01-01T00:00:00Z"}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"conf": [1]}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"execution_date": "bad"}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"run_id": "bad id!"}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", {"replace_microseconds": 5}, 400),
            ("POST", f"/dags/{BASH_DAG}/dag_runs", [], 400),
            ("POST", "/dags/nope/dag_runs", {}, 404),
            ("POST", "/pools", {"name": "experimental_1", "slots": "abc"}, 400),
            ("POST", "/pools", {"name": "experimental_1", "slots": 1, "description": 5}, 400),
            ("POST", "/pools", {"name": "new", "slots": -2}, 400),
            ("POST", "/pools", {"name": " ", "slots": 1}, 400),
            ("POST", "/pools", {"name": "n" * 257, "slots": 1}, 400),
            ("POST", "/pools", {"name": "new", "slots": 1, "extra": True}, 400),
            ("DELETE", "/pools/default_pool", None, 400),
            ("DELETE", "/pools/nope", None, 404),
            ("DELETE", "/dags/nope", None, 404),
            ("DELETE", "/dags/nope/delete_dag", None, 404),
            ("GET", "/dags/nope/paused/true", None, 404),
            ("GET", f"/dags/{BASH_DAG}/paused/maybe", None, 400),
        ],
    )
    def test_nothing_stored_changes(self, client, app_settings, populated, method, path, content, status):
        kwargs = {} if content is None else {"content": json.dumps(content).encode()}

        response = client.request(method, f"{BASE}{path}", **kwargs)

        assert_error_matching(response, status, r".")
        assert snapshot(app_settings) == populated

    def test_a_refused_dag_delete(self, client, app_settings, populated):
        update_task_instance(app_settings, BASH_DAG, "existing", "also_run_this", state="running")
        before = snapshot(app_settings)

        assert_error(client.delete(f"{BASE}/dags/{BASH_DAG}"), 409, "TaskInstances still running")
        assert snapshot(app_settings) == before


class TestServedSpecAndUi:
    def test_openapi_json_is_the_contract(self, client):
        response = client.get(f"{BASE}/openapi.json")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        served = response.json()
        written = yaml.safe_load(SPEC_PATH.read_text())
        assert served["paths"].keys() == written["paths"].keys()
        assert served["components"]["schemas"] == written["components"]["schemas"]
        assert served["servers"] == [{"url": "/api/experimental"}]

    def test_open_auth_serves_a_spec_without_security(self, client):
        # auth_backend="default": the served spec tells clients that no credentials are needed.
        assert client.get(f"{BASE}/openapi.json").json()["security"] == []

    def test_swagger_ui(self, client):
        response = client.get(f"{BASE}/ui/")

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "Swagger UI" in response.text

    def test_every_response_is_no_store(self, client):
        for path in ("/test", "/pools", "/openapi.json", "/ui/", "/nope", f"/dags/{BASH_DAG}/code"):
            assert client.get(f"{BASE}{path}").headers["cache-control"] == "no-store", path

    def test_a_client_cache_control_header_changes_nothing(self, client):
        assert_json(client.get(f"{BASE}/test", headers={"Cache-Control": "max-age=60"}), 200, {"status": "OK"})
