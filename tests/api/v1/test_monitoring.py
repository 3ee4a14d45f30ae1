"""/api/v1/health and /api/v1/version, and the v1 error shapes the whole contract shares."""

from __future__ import annotations

from tests.api.v1.golden import assert_matches_golden, exchange

V1 = "/api/v1"
DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"


def test_health_reports_every_component_as_airflow_does(client):
    response = client.get(f"{V1}/health")
    assert response.status_code == 200
    body = response.json()
    # No scheduler ran in this database: Airflow says unhealthy, and null for components never started.
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"] == {"status": "unhealthy", "latest_scheduler_heartbeat": None}
    assert body["triggerer"] == {"status": None, "latest_triggerer_heartbeat": None}
    assert body["dag_processor"] == exchange(0)["response"]["body"]["dag_processor"]
    assert set(body) == set(exchange(0)["response"]["body"])


def test_version_answers_as_airflow_2_10_5(client):
    response = client.get(f"{V1}/version")
    assert response.status_code == 200
    assert response.json()["version"] == "2.10.5"
    assert_matches_golden(response.json(), 1, also_volatile=("$.git_version",))


def test_an_unknown_path_is_airflows_routing_404(client):
    response = client.get(f"{V1}/eventLogs/abc/def")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "about:blank"
    assert response.json()["title"] == "Not Found"
    assert "error" not in response.json()


def test_an_unknown_query_parameter_is_a_400_with_a_null_title(client):
    response = client.get(f"{V1}/version", params={"bogus": "1"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Extra query parameter(s) bogus not in spec",
        "status": 400,
        "title": None,
        "type": DOCS + "BadRequest",
    }


def test_the_experimental_api_keeps_its_own_error_shape(client):
    response = client.get("/api/experimental/no_such_path")
    assert response.status_code == 404
    assert "error" in response.json()
