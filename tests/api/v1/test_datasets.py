"""/api/v1/datasets...: datasets, dataset events and queued events, with DAGs named as in Airflow's
example_datasets.py so that the golden transcripts replay."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from slipstream.api.app import create_app
from slipstream.storage.dataset_models import DatasetDagRunQueue, DatasetEvent
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel
from tests.api.support import api_settings, copy_database, drop_database
from tests.api.v1.dataset_dags import DAG1_URI, DAG2_URI, build_datasets_template
from tests.api.v1.golden import assert_matches_golden, exchange

V1 = "/api/v1"
AND_DAG = "consume_1_and_2_with_dataset_expressions"
# Dataset and event ids depend on which datasets a database holds (Airflow's has 13 of them).
IDS = ("$.dataset_id", "$.dataset_events[*].dataset_id")


@pytest.fixture(scope="module")
def datasets_template(tmp_path_factory, postgres_databases) -> str:
    return build_datasets_template(tmp_path_factory.mktemp("datasets_template"), postgres_databases)


@pytest.fixture
def settings(datasets_template, postgres_databases, tmp_path):
    url = copy_database(datasets_template, tmp_path, postgres_databases)
    value = api_settings(tmp_path, database_url=url)
    yield value
    drop_database(url, postgres_databases)


@pytest.fixture
def client(settings):
    return create_app(settings, validate_responses=True).test_client()


def replay(client, seq: int):
    request = exchange(seq)["request"]
    body = request["body"]
    return client.request(request["method"], request["url"], **({"json": body} if body is not None else {}))


def assert_replays(client, seq: int, *, also_volatile: tuple[str, ...] = ()):
    response = replay(client, seq)
    assert response.status_code == exchange(seq)["response"]["status"], response.text
    if response.status_code != 204:
        assert_matches_golden(response.json(), seq, also_volatile=also_volatile)
    return response


def pause(settings, dag_id: str) -> None:
    with session_scope(settings.database_url) as db:
        db.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=True))


def queued(settings) -> set[tuple[str, int]]:
    with session_scope(settings.database_url, write=False) as db:
        return set(db.execute(select(DatasetDagRunQueue.target_dag_id, DatasetDagRunQueue.dataset_id)).all())


class TestDatasets:
    def test_the_list_names_producers_and_consumers(self, client):
        body = client.get(f"{V1}/datasets").json()
        by_uri = {d["uri"]: d for d in body["datasets"]}
        assert set(by_uri) == {DAG1_URI, DAG2_URI}
        dag1 = by_uri[DAG1_URI]
        assert set(dag1) == set(exchange(406)["response"]["body"]["datasets"][3])
        assert [r["dag_id"] for r in dag1["consuming_dags"]] == [AND_DAG, "dataset_consumes_1"]
        assert [(r["dag_id"], r["task_id"]) for r in dag1["producing_tasks"]] == [
            ("dataset_produces_1", "producing_task_1")
        ]
        assert dag1["aliases"] == [] and body["total_entries"] == 2

    def test_filters_leave_total_entries_at_every_dataset_as_airflow_does(self, client):
        body = client.get(f"{V1}/datasets?uri_pattern=DAG1").json()
        assert [d["uri"] for d in body["datasets"]] == [DAG1_URI] and body["total_entries"] == 2
        body = client.get(f"{V1}/datasets?dag_ids=dataset_produces_2,nobody").json()
        assert [d["uri"] for d in body["datasets"]] == [DAG2_URI]
        body = client.get(f"{V1}/datasets?dag_ids=dataset_consumes_1").json()
        assert [d["uri"] for d in body["datasets"]] == [DAG1_URI]
        # A LIKE wildcard in the pattern is a character to find, not a wildcard.
        assert client.get(f"{V1}/datasets?uri_pattern=%25").json()["datasets"] == []

    def test_order_and_pages(self, client):
        body = client.get(f"{V1}/datasets?order_by=-uri&limit=1&offset=1").json()
        assert [d["uri"] for d in body["datasets"]] == [DAG1_URI]
        for name in ("id", "uri", "created_at", "updated_at"):
            assert client.get(f"{V1}/datasets?order_by={name}").status_code == 200
        assert_replays(client, 410)

    @pytest.mark.parametrize("path", [quote(DAG1_URI, safe=""), DAG1_URI])
    def test_get_by_uri_percent_encoded_or_raw(self, client, path):
        body = client.get(f"{V1}/datasets/{path}").json()
        assert body["uri"] == DAG1_URI
        assert set(body) == set(exchange(411)["response"]["body"])
        # Dataset("s3://dag1/output_1.txt", extra={"hi": "bye"}) in the DAG file, as in Airflow's example.
        assert body["extra"] == exchange(411)["response"]["body"]["extra"] == {"hi": "bye"}

    def test_an_unknown_dataset(self, client):
        assert_replays(client, 413)


class TestEvents:
    def test_create_then_list(self, client, settings):
        assert_replays(client, 414)
        assert_replays(client, 415, also_volatile=IDS)
        assert_replays(client, 416, also_volatile=IDS)
        assert_replays(client, 419, also_volatile=IDS)
        with session_scope(settings.database_url, write=False) as db:
            extras = db.scalars(select(DatasetEvent.extra).order_by(DatasetEvent.id)).all()
        assert extras == [{"source": "golden", "from_rest_api": True}, {"from_rest_api": True}]

    def test_filters_and_order(self, client):
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI, "extra": {"n": 1}})
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI, "extra": {"n": 2}})
        second = client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG2_URI}).json()
        dag1_id = client.get(f"{V1}/datasets/{quote(DAG1_URI, safe='')}").json()["id"]
        body = client.get(f"{V1}/datasets/events?dataset_id={dag1_id}&order_by=-timestamp&limit=1").json()
        assert body["total_entries"] == 2 and body["dataset_events"][0]["extra"] == {"n": 2, "from_rest_api": True}
        assert client.get(f"{V1}/datasets/events?source_dag_id=x").json() == {"dataset_events": [], "total_entries": 0}
        everything = client.get(f"{V1}/datasets/events?source_map_index=-1").json()
        assert everything["total_entries"] == 3 and everything["dataset_events"][-1]["id"] == second["id"]
        for name in ("source_dag_id", "source_task_id", "source_run_id", "source_map_index", "timestamp"):
            assert client.get(f"{V1}/datasets/events?order_by=-{name}").status_code == 200
        assert_replays(client, 421)
        assert_replays(client, 422)

    @pytest.mark.parametrize("seq", [417, 418])
    def test_errors(self, client, seq):
        assert_replays(client, seq)

    def test_an_event_queues_the_unpaused_consumers_only(self, client, settings):
        pause(settings, "dataset_consumes_1")
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI})
        assert {dag_id for dag_id, _ in queued(settings)} == {AND_DAG}


class TestQueuedEvents:
    def test_airflows_sequence(self, client, settings):
        pause(settings, "dataset_consumes_1")
        assert_replays(client, 423)
        assert_replays(client, 424, also_volatile=("$.id", *IDS))
        for seq in (425, 426, 427, 428, 429, 430):
            assert_replays(client, seq)
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI})
        assert_replays(client, 432)
        assert queued(settings) == set()
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI})
        assert_replays(client, 434)
        for seq in (435, 436, 437, 438):
            assert_replays(client, seq)

    def test_before_filters_and_a_second_dataset(self, client, settings):
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG1_URI})
        client.post(f"{V1}/datasets/events", json={"dataset_uri": DAG2_URI})
        body = client.get(f"{V1}/dags/{AND_DAG}/datasets/queuedEvent").json()
        assert [e["uri"] for e in body["queued_events"]] == [DAG1_URI, DAG2_URI]
        later = "2999-01-01T00:00:00%2B00:00"
        assert client.get(f"{V1}/dags/{AND_DAG}/datasets/queuedEvent?before={later}").json()["total_entries"] == 2
        raw = client.get(f"{V1}/datasets/queuedEvent/{DAG2_URI}").json()
        assert [(e["dag_id"], e["uri"]) for e in raw["queued_events"]] == [(AND_DAG, DAG2_URI)]
        assert client.delete(f"{V1}/datasets/queuedEvent/{DAG1_URI}?before=2000-01-01T00:00:00Z").status_code == 404
        assert client.delete(f"{V1}/dags/{AND_DAG}/datasets/queuedEvent/{DAG2_URI}").status_code == 204
        assert [dag for dag, _ in queued(settings) if dag == AND_DAG] == [AND_DAG]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{V1}/datasets/a%00b", None, 404),
        ("GET", f"{V1}/datasets?uri_pattern=%00", None, 200),
        ("GET", f"{V1}/datasets?dag_ids=%00", None, 200),
        ("POST", f"{V1}/datasets/events", {"dataset_uri": "a\x00"}, 404),
        ("GET", f"{V1}/datasets/events?source_dag_id=%00", None, 200),
        ("GET", f"{V1}/datasets/queuedEvent/a%00", None, 404),
        ("DELETE", f"{V1}/dags/a%00/datasets/queuedEvent", None, 404),
        ("GET", f"{V1}/dags/a%00/datasets/queuedEvent/x", None, 404),
    ],
)
def test_a_nul_character_matches_nothing_on_every_backend(client, method, path, body, status):
    response = client.request(method, path, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{V1}/datasets?offset={10**23}", 200),
        (f"{V1}/datasets/events?offset={10**23}", 200),
        (f"{V1}/datasets/events?dataset_id={10**23}", 400),
        (f"{V1}/datasets/events?source_map_index=-{10**23}", 400),
        (f"{V1}/dags/{AND_DAG}/datasets/queuedEvent?before=0001-01-01T00:00:00%2B01:00", 400),
    ],
)
def test_numbers_and_dates_beyond_what_the_database_holds_are_4xx(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
