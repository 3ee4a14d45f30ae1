"""The spec as served (the file as written, `$ref`s kept), exact paths, and requests uvicorn cannot parse."""

from __future__ import annotations

import socket

import pytest
import yaml

from slipstream.api.app import SPEC_PATH, create_app
from tests.api.support import BASE, BASH_DAG, NOT_FOUND_ROUTE, api_settings, assert_error
from tests.live_server import ApiServer


def written_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


class TestTheSpecAsWritten:
    def test_openapi_json_is_the_file_with_its_refs(self, client):
        served = client.get(f"{BASE}/openapi.json").json()
        written = written_spec()
        # The open auth backend of these tests drops the security requirements; the rest is the file.
        served.pop("security")
        written.pop("security")
        assert served == written
        trigger = served["paths"]["/dags/{dag_id}/dag_runs"]["post"]
        assert trigger["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/TriggerRequest"
        }

    def test_openapi_yaml_is_the_same_document(self, client):
        response = client.get(f"{BASE}/openapi.yaml")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/yaml")
        assert yaml.safe_load(response.text) == client.get(f"{BASE}/openapi.json").json()

    def test_with_basic_auth_the_served_spec_is_exactly_the_file(self, tmp_path):
        settings = api_settings(tmp_path, auth_backend="basic_auth")
        client = create_app(settings).test_client()  # the spec routes touch no database

        assert client.get(f"{BASE}/openapi.json").json() == written_spec()

    def test_the_swagger_ui_reads_the_served_spec(self, client):
        page = client.get(f"{BASE}/ui/").text

        assert f"{BASE}/openapi.json" in page


class TestExactPaths:
    @pytest.mark.parametrize(
        "path",
        ["/test/", "/info/", "/pools/", "/pools/default_pool/", f"/dags/{BASH_DAG}/dag_runs/", "/openapi.json/"],
    )
    def test_a_trailing_slash_is_a_json_404_not_a_redirect(self, client, path):
        response = client.get(f"{BASE}{path}", follow_redirects=False)

        assert_error(response, 404, NOT_FOUND_ROUTE)

    @pytest.mark.parametrize("dag_id", ["a%0Ab", "%0A", "x%0D%0Ay"])
    def test_a_line_feed_in_a_path_parameter_reaches_the_operation(self, client, dag_id):
        response = client.get(f"{BASE}/dags/{dag_id}/dag_runs")

        assert response.status_code == 400  # the operation's answer to an unknown DAG, not a route 404
        assert response.json()["error"] != NOT_FOUND_ROUTE

    def test_the_swagger_ui_still_redirects_to_its_folder(self, client):
        response = client.get(f"{BASE}/ui", follow_redirects=False)

        assert response.status_code == 307
        assert response.headers["location"].endswith(f"{BASE}/ui/")


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_an_unknown_method_gets_the_json_error_shape(app_settings, tmp_path):
    with ApiServer(app_settings, log=tmp_path / "api.log") as server:
        answer = raw_request(server.port, b"BREW /api/experimental/test HTTP/1.1\r\nHost: x\r\n\r\n")

    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "application/problem+json"
    problem = yaml.safe_load(body)
    assert problem["status"] == 400
    assert problem["error"] == problem["detail"]
    assert "method" in problem["error"]
