"""POST /dags/{dag_id}/dag_runs (trigger), GET /dags/{dag_id}/dag_runs (list), GET .../dag_runs/{date} (state)."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

import pytest
from sqlalchemy import select

from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, SerializedDagModel
from tests.api.support import (
    BASE,
    BASH_DAG,
    INVALID_DATE,
    assert_error,
    assert_error_matching,
    assert_json,
    insert_run,
    read_run,
    read_runs,
    snapshot,
    trigger,
    trigger_body,
    update_run,
)

CONF_MESSAGE = "Dag Run conf must be a dictionary object, other types are not supported"
RUN_ID_PATTERNS = (
    "It does not match either the configured pattern: '^[A-Za-z0-9_.~:+-]+$' or the built-in pattern: "
    "'^(?:manual|scheduled|dataset_triggered)__(?:\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\+00:00)$'"
)
NOW_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
SEED_BODY = b'{"conf":"{\\"key\\":\\"value\\"}"}'


def invalid_run_id(run_id: str) -> str:
    return f"The provided run ID '{run_id}' is invalid. {RUN_ID_PATTERNS}"


def duplicate(date: str, run_id: str, dag_id: str = BASH_DAG) -> str:
    return f"A DAG Run already exists for DAG {dag_id} at {date} with run id {run_id}"


def delete_serialized_dag(settings, dag_id: str) -> None:
    with session_scope(settings.database_url) as db:
        db.delete(db.get(SerializedDagModel, dag_id))


def assert_triggered_now(response, settings, before: datetime, after: datetime, run_id: str | None = None) -> str:
    """A trigger without execution_date: now, microseconds dropped; returns the echoed date."""
    assert response.status_code == 200, response.text
    echoed = response.json()["execution_date"]
    assert NOW_ISO.match(echoed), echoed
    assert before.replace(microsecond=0) <= datetime.fromisoformat(echoed) <= after
    run_id = run_id or f"manual__{echoed}"
    assert_json(response, 200, trigger_body(settings, run_id, echoed))
    return echoed


class TestTriggerDagRun:
    # -- the seed documentation's example, however the client labels the body ------------------------

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Content-Type": "application/json"},
            {"Content-Type": "text/plain"},
            # What `curl -d '...'` sends without -H.
            {"Content-Type": "application/x-www-form-urlencoded"},
        ],
        ids=["no-content-type", "json", "text-plain", "form-urlencoded"],
    )
    def test_seed_example_conf_string_is_parsed_whatever_the_content_type(self, client, app_settings, headers):
        before = datetime.now(UTC)
        response = trigger(client, content=SEED_BODY, headers=headers)
        after = datetime.now(UTC)

        echoed = assert_triggered_now(response, app_settings, before, after)
        run = read_run(app_settings, BASH_DAG, f"manual__{echoed}")
        assert run.conf == {"key": "value"}
        assert run.state == "queued"
        assert run.start_date is None
        assert run.external_trigger is True

    def test_new_run_is_queued_and_not_started(self, client, app_settings):
        response = trigger(client, {"run_id": "my_run", "execution_date": "2022-03-04T05:06:07+00:00"})
        assert response.status_code == 200

        assert_json(
            client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs"),
            200,
            [
                {
                    "dag_id": BASH_DAG,
                    "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-04+05%3A06%3A07%2B00%3A00",
                    "execution_date": "2022-03-04T05:06:07+00:00",
                    "id": read_run(app_settings, BASH_DAG, "my_run").id,
                    "run_id": "my_run",
                    "start_date": "",
                    "state": "queued",
                }
            ],
        )

    def test_message_names_the_run_like_airflow_2(self, client, app_settings):
        response = trigger(client, {"run_id": "my_run_1", "execution_date": "2022-03-04T05:06:07.123456+00:00"})

        queued_at = read_run(app_settings, BASH_DAG, "my_run_1").queued_at
        assert_json(
            response,
            200,
            {
                "execution_date": "2022-03-04T05:06:07.123456+00:00",
                "message": "Created <DagRun example_bash_operator @ 2022-03-04 05:06:07.123456+00:00: my_run_1, "
                f"state:queued, queued_at: {queued_at}. externally triggered: True>",
                "run_id": "my_run_1",
            },
        )
        assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$", str(queued_at))

    def test_unknown_keys_are_ignored(self, client, app_settings):
        response = trigger(client, {"execution_date": "2022-01-01", "dag_id": "other", "foo": [1, 2]})

        assert_json(
            response,
            200,
            trigger_body(app_settings, "manual__2022-01-01T00:00:00+00:00", "2022-01-01T00:00:00+00:00"),
        )

    def test_a_paused_dag_gets_a_queued_run(self, client, app_settings):
        assert client.get(f"{BASE}/dags/{BASH_DAG}/paused/true").status_code == 200

        response = trigger(client, {"run_id": "while_paused", "execution_date": "2022-01-01"})

        assert_json(response, 200, trigger_body(app_settings, "while_paused", "2022-01-01T00:00:00+00:00"))
        assert read_run(app_settings, BASH_DAG, "while_paused").state == "queued"

    # -- conf ----------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("conf", "stored"),
        [
            ({"param": "value"}, {"param": "value"}),
            ({"nested": {"a": [1, 2, None]}, "n": 1.5}, {"nested": {"a": [1, 2, None]}, "n": 1.5}),
            ({}, {}),
            ('{"key": "value"}', {"key": "value"}),
            ("{}", {}),
            (None, {}),
        ],
        ids=["object", "nested-object", "empty-object", "json-string", "empty-json-string", "null"],
    )
    def test_conf_is_stored_as_an_object(self, client, app_settings, conf, stored):
        response = trigger(client, {"run_id": "r", "execution_date": "2022-01-01", "conf": conf})

        assert_json(response, 200, trigger_body(app_settings, "r", "2022-01-01T00:00:00+00:00"))
        assert read_run(app_settings, BASH_DAG, "r").conf == stored

    def test_absent_conf_stores_an_empty_object(self, client, app_settings):
        assert trigger(client, {"run_id": "r", "execution_date": "2022-01-01"}).status_code == 200
        assert read_run(app_settings, BASH_DAG, "r").conf == {}

    @pytest.mark.parametrize(
        "conf",
        [[1, 2], [], 5, 1.5, True, False, "abc", "", "[1, 2]", '"a string"', "5", "null", "{not json"],
    )
    def test_conf_that_is_not_an_object_is_rejected(self, client, app_settings, conf):
        before = snapshot(app_settings)

        assert_error(trigger(client, {"execution_date": "2022-01-01", "conf": conf}), 400, CONF_MESSAGE)
        assert snapshot(app_settings) == before

    # -- run_id --------------------------------------------------------------------------------------

    @pytest.mark.parametrize("run_id", [None, ""], ids=["null", "empty"])
    def test_null_or_empty_run_id_is_generated(self, client, app_settings, run_id):
        response = trigger(client, {"run_id": run_id, "execution_date": "2022-03-05T10:00:00+02:00"})

        assert_json(
            response,
            200,
            trigger_body(app_settings, "manual__2022-03-05T10:00:00+02:00", "2022-03-05T10:00:00+02:00"),
        )

    @pytest.mark.parametrize(
        "run_id",
        ["my_run", "a.b~c:d+e-f_1", "manual__2022-01-01T00:00:00+00:00", "x" * 250],
        ids=["plain", "every-allowed-character", "builtin-form", "250-characters"],
    )
    def test_valid_run_id_is_kept(self, client, app_settings, run_id):
        response = trigger(client, {"run_id": run_id, "execution_date": "2022-01-01"})

        assert_json(response, 200, trigger_body(app_settings, run_id, "2022-01-01T00:00:00+00:00"))

    @pytest.mark.parametrize(
        "run_id",
        ["bad run id!", "x" * 251, "a/b", "tab\there", "é", "%", "run\x00"],
        ids=["space-and-bang", "251-characters", "slash", "tab", "non-ascii", "percent", "nul"],
    )
    def test_invalid_run_id_is_rejected(self, client, app_settings, run_id):
        before = snapshot(app_settings)

        assert_error(trigger(client, {"run_id": run_id, "execution_date": "2022-01-01"}), 400, invalid_run_id(run_id))
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize("run_id", [5, True, ["a"], {"a": 1}])
    def test_run_id_that_is_not_a_string_is_rejected(self, client, app_settings, run_id):
        before = snapshot(app_settings)

        assert_error(
            trigger(client, {"run_id": run_id, "execution_date": "2022-01-01"}),
            400,
            f"run_id must be a string, not {run_id!r}",
        )
        assert snapshot(app_settings) == before

    # -- execution_date ------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("given", "echoed", "stored"),
        [
            ("2022-03-04T05:06:07.123456+00:00", "2022-03-04T05:06:07.123456+00:00", "2022-03-04T05:06:07.123456"),
            ("2023-01-01T00:00:00Z", "2023-01-01T00:00:00+00:00", "2023-01-01T00:00:00"),
            ("2022-03-05T10:00:00+02:00", "2022-03-05T10:00:00+02:00", "2022-03-05T08:00:00"),
            ("2022-03-05T10:00:00-05:30", "2022-03-05T10:00:00-05:30", "2022-03-05T15:30:00"),
            ("2022-03-06T10:00:00", "2022-03-06T10:00:00+00:00", "2022-03-06T10:00:00"),
            ("2022-03-07", "2022-03-07T00:00:00+00:00", "2022-03-07T00:00:00"),
            ("2024-01-10 10:00:00", "2024-01-10T10:00:00+00:00", "2024-01-10T10:00:00"),
            ("2024/01/06 10:00", "2024-01-06T10:00:00+00:00", "2024-01-06T10:00:00"),
            ("Jan 7 2024 10:00", "2024-01-07T10:00:00+00:00", "2024-01-07T10:00:00"),
            ("20240108T100000", "2024-01-08T10:00:00+00:00", "2024-01-08T10:00:00"),
            ("2024-01-04T00:00:00.5", "2024-01-04T00:00:00.500000+00:00", "2024-01-04T00:00:00.500000"),
        ],
    )
    def test_dates_are_parsed_leniently_and_the_offset_kept_in_the_echo(
        self, client, app_settings, given, echoed, stored
    ):
        response = trigger(client, {"execution_date": given})

        run_id = f"manual__{echoed}"
        assert_json(response, 200, trigger_body(app_settings, run_id, echoed))
        assert read_run(app_settings, BASH_DAG, run_id).execution_date == datetime.fromisoformat(stored).replace(
            tzinfo=UTC
        )

    @pytest.mark.parametrize("execution_date", [None, "absent"], ids=["null", "absent"])
    def test_no_date_means_now_without_microseconds(self, client, app_settings, execution_date):
        body = {} if execution_date == "absent" else {"execution_date": None}
        before = datetime.now(UTC)
        response = trigger(client, {**body, "run_id": "now"})
        after = datetime.now(UTC)

        echoed = assert_triggered_now(response, app_settings, before, after, run_id="now")
        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs/{quote_plus(echoed)}"), 200, {"state": "queued"})

    @pytest.mark.parametrize(
        "raw",
        [
            "not_a_datetime",
            "bad",
            "",
            "   ",
            "2024-13-01",
            "2024-02-30T00:00:00",
            "P1D",
            "9999-12-31T23:00:00-05:00",  # overflows when converted to UTC
            "0001-01-01T00:00:00+05:00",
            "1" * 5000,
            "2022-01-01T00:00:00+99:00",
        ],
        ids=lambda raw: raw if len(raw) < 40 else f"{len(raw)}-characters",
    )
    def test_unparseable_date_is_rejected(self, client, app_settings, raw):
        before = snapshot(app_settings)

        assert_error(trigger(client, {"execution_date": raw}), 400, INVALID_DATE.format(raw=raw))
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("0001-01-01T00:00:00+00:00", "0001-01-01 00:00:00+00:00"),
            ("0001-01-02T00:00:00+00:00", "0001-01-02 00:00:00+00:00"),
            ("9999-12-31T23:59:59.999999+00:00", "9999-12-31 23:59:59.999999+00:00"),
        ],
    )
    def test_a_date_beyond_the_crons_ticks_is_rejected(self, client, app_settings, raw, shown):
        # example_bash_operator runs on "0 0 * * *": no tick before year 1 or after 9999 gives its
        # manual run a data interval (a 500 once).
        before = snapshot(app_settings)

        response = trigger(client, {"execution_date": raw})

        assert_error(response, 400, f"The DAG's schedule has no data interval for a run at {shown}")
        assert snapshot(app_settings) == before

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [(12345, "12345"), (1.5, "1.5"), (True, "True"), ([2022, 1, 1], "[2022, 1, 1]"), ({"y": 2022}, "{'y': 2022}")],
    )
    def test_date_that_is_not_a_string_is_rejected(self, client, app_settings, raw, shown):
        before = snapshot(app_settings)

        assert_error(trigger(client, {"execution_date": raw}), 400, INVALID_DATE.format(raw=shown))
        assert snapshot(app_settings) == before

    # -- replace_microseconds ------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("replace", "echoed"),
        [
            ("absent", "2030-01-01T05:06:07.123456+00:00"),
            (None, "2030-01-01T05:06:07.123456+00:00"),
            ("true", "2030-01-01T05:06:07+00:00"),
            ("TRUE", "2030-01-01T05:06:07+00:00"),
            ("t", "2030-01-01T05:06:07+00:00"),
            ("y", "2030-01-01T05:06:07+00:00"),
            ("Yes", "2030-01-01T05:06:07+00:00"),
            ("1", "2030-01-01T05:06:07+00:00"),
            ("On", "2030-01-01T05:06:07+00:00"),
            (True, "2030-01-01T05:06:07+00:00"),
            ("false", "2030-01-01T05:06:07.123456+00:00"),
            ("no", "2030-01-01T05:06:07.123456+00:00"),
            ("", "2030-01-01T05:06:07.123456+00:00"),
            ("anything", "2030-01-01T05:06:07.123456+00:00"),
            (False, "2030-01-01T05:06:07.123456+00:00"),
        ],
    )
    def test_microseconds_are_kept_unless_replaced(self, client, app_settings, replace, echoed):
        body = {"execution_date": "2030-01-01T05:06:07.123456+00:00"}
        if replace != "absent":
            body["replace_microseconds"] = replace

        response = trigger(client, body)

        assert_json(response, 200, trigger_body(app_settings, f"manual__{echoed}", echoed))
        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs/{quote_plus(echoed)}"), 200, {"state": "queued"})

    @pytest.mark.parametrize("replace", [1, 0, 1.5, ["true"], {"a": 1}])
    def test_replace_microseconds_of_another_type_is_rejected(self, client, app_settings, replace):
        before = snapshot(app_settings)

        assert_error(
            trigger(client, {"execution_date": "2030-01-01", "replace_microseconds": replace}),
            400,
            f"replace_microseconds must be a boolean or a boolean string, not {replace!r}",
        )
        assert snapshot(app_settings) == before

    # -- what Airflow's own endpoint tests assert (reference §8.1) ------------------------------------

    def test_airflow_run_id_with_now_and_fetch_back(self, client, app_settings):
        run_id = f"my_run{datetime.now(UTC).isoformat()}"
        before = datetime.now(UTC)
        response = trigger(client, {"run_id": run_id})
        after = datetime.now(UTC)

        echoed = assert_triggered_now(response, app_settings, before, after, run_id=run_id)
        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs/{quote_plus(echoed)}"), 200, {"state": "queued"})
        assert [run.run_id for run in read_runs(app_settings, BASH_DAG)] == [run_id]

    def test_airflow_top_of_next_hour(self, client, app_settings):
        hour = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)

        response = trigger(client, {"execution_date": hour.isoformat()})

        assert_json(response, 200, trigger_body(app_settings, f"manual__{hour.isoformat()}", hour.isoformat()))
        assert read_run(app_settings, BASH_DAG, f"manual__{hour.isoformat()}").execution_date == hour

    def test_airflow_microseconds_kept_then_replaced(self, client, app_settings):
        when = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=123456)

        first = trigger(client, {"execution_date": when.isoformat()})
        assert_json(first, 200, trigger_body(app_settings, f"manual__{when.isoformat()}", when.isoformat()))

        dropped = when.replace(microsecond=0)
        second = trigger(client, {"execution_date": when.isoformat(), "replace_microseconds": "true"})
        assert_json(second, 200, trigger_body(app_settings, f"manual__{dropped.isoformat()}", dropped.isoformat()))
        assert_json(
            client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs/{quote_plus(dropped.isoformat())}"),
            200,
            {"state": "queued"},
        )

    # -- duplicates ----------------------------------------------------------------------------------

    def test_same_run_id_is_a_duplicate(self, client, app_settings):
        assert trigger(client, {"run_id": "dup", "execution_date": "2022-01-01"}).status_code == 200
        before = snapshot(app_settings)

        response = trigger(client, {"run_id": "dup", "execution_date": "2022-02-02T10:00:00+02:00"})

        assert_error(response, 400, duplicate("2022-02-02 10:00:00+02:00", "dup"))
        assert snapshot(app_settings) == before

    def test_same_execution_date_is_a_duplicate(self, client, app_settings):
        assert trigger(client, {"run_id": "first", "execution_date": "2022-01-01T00:00:00.5"}).status_code == 200
        before = snapshot(app_settings)

        response = trigger(client, {"run_id": "second", "execution_date": "2022-01-01T02:00:00.5+02:00"})

        assert_error(response, 400, duplicate("2022-01-01 02:00:00.500000+02:00", "second"))
        assert snapshot(app_settings) == before

    def test_same_execution_date_with_a_nul_in_the_run_id_is_a_duplicate(self, client, app_settings):
        # The duplicate check runs before the run_id check (as in Airflow); a NUL, which PostgreSQL
        # refuses in text, must not turn it into a 500 there.
        assert trigger(client, {"run_id": "first", "execution_date": "2022-01-01"}).status_code == 200
        before = snapshot(app_settings)

        response = trigger(client, {"run_id": "first\x00", "execution_date": "2022-01-01"})

        assert_error(response, 400, duplicate("2022-01-01 00:00:00+00:00", "first\x00"))
        assert snapshot(app_settings) == before

    def test_same_execution_date_with_generated_run_id_names_the_generated_id(self, client, app_settings):
        assert trigger(client, {"run_id": "first", "execution_date": "2022-01-01"}).status_code == 200

        assert_error(
            trigger(client, {"execution_date": "2022-01-01T00:00:00Z"}),
            400,
            duplicate("2022-01-01 00:00:00+00:00", "manual__2022-01-01T00:00:00+00:00"),
        )

    def test_run_id_and_date_matching_two_different_runs(self, client, app_settings):
        assert trigger(client, {"run_id": "a", "execution_date": "2022-01-01"}).status_code == 200
        assert trigger(client, {"run_id": "b", "execution_date": "2022-01-02"}).status_code == 200

        assert_error(
            trigger(client, {"run_id": "a", "execution_date": "2022-01-02"}),
            400,
            duplicate("2022-01-02 00:00:00+00:00", "a"),
        )
        assert [run.run_id for run in read_runs(app_settings, BASH_DAG)] == ["a", "b"]

    def test_the_same_run_id_in_another_dag_is_not_a_duplicate(self, client, app_settings):
        assert trigger(client, {"run_id": "shared", "execution_date": "2022-01-01"}).status_code == 200

        response = trigger(client, {"run_id": "shared", "execution_date": "2022-01-01"}, dag_id="example_pool")

        assert_json(
            response, 200, trigger_body(app_settings, "shared", "2022-01-01T00:00:00+00:00", dag_id="example_pool")
        )

    def test_concurrent_duplicates_create_exactly_one_run(self, client, app_settings):
        responses = []
        barrier = threading.Barrier(6)

        def send():
            barrier.wait()
            responses.append(trigger(client, {"run_id": "race", "execution_date": "2022-01-01"}))

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400, 400]
        for response in responses:
            if response.status_code == 400:
                assert_error(response, 400, duplicate("2022-01-01 00:00:00+00:00", "race"))
        assert [run.run_id for run in read_runs(app_settings, BASH_DAG)] == ["race"]

    # -- the DAG -------------------------------------------------------------------------------------

    @pytest.mark.parametrize("body", [{}, {"execution_date": "2022-01-01"}, {"run_id": "x", "conf": {"a": 1}}])
    def test_unknown_dag(self, client, app_settings, body):
        before = snapshot(app_settings)

        assert_error(trigger(client, body, dag_id="nope"), 404, "Dag id nope not found in DagModel")
        assert snapshot(app_settings) == before

    def test_dag_without_serialized_form(self, client, app_settings):
        delete_serialized_dag(app_settings, BASH_DAG)

        assert_error(trigger(client, {}), 404, f"Dag id {BASH_DAG} not found")

    def test_conf_then_date_are_checked_before_the_dag(self, client):
        assert_error(
            trigger(client, {"conf": [1], "execution_date": "bad"}, dag_id="nope"),
            400,
            CONF_MESSAGE,
        )
        assert_error(trigger(client, {"execution_date": "bad"}, dag_id="nope"), 400, INVALID_DATE.format(raw="bad"))

    def test_the_dag_is_checked_before_the_run_id(self, client):
        assert_error(trigger(client, {"run_id": "bad id!"}, dag_id="nope"), 404, "Dag id nope not found in DagModel")

    # -- the body ------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "content",
        [b"[]", b'"abc"', b"null", b"123", b"true", b"", b"   ", b"[{}]"],
        ids=["array", "string", "null", "number", "boolean", "empty", "blank", "array-of-object"],
    )
    def test_body_that_is_not_an_object_is_rejected(self, client, app_settings, content):
        before = snapshot(app_settings)

        assert_error_matching(trigger(client, content=content), 400, r".")
        assert snapshot(app_settings) == before

    def test_large_conf_under_the_limit_is_accepted(self, client, app_settings):
        filler = "x" * (1024 * 1024 - 200)
        content = json.dumps({"run_id": "big", "execution_date": "2022-01-01", "conf": {"f": filler}}).encode()
        assert len(content) < 1024 * 1024

        response = trigger(client, content=content)

        assert_json(response, 200, trigger_body(app_settings, "big", "2022-01-01T00:00:00+00:00"))
        assert read_run(app_settings, BASH_DAG, "big").conf == {"f": filler}


class TestListDagRuns:
    def url(self, dag_id: str = BASH_DAG) -> str:
        return f"{BASE}/dags/{dag_id}/dag_runs"

    def test_one_triggered_run(self, client, app_settings):
        assert (
            trigger(client, {"run_id": "r1", "execution_date": "2022-03-04T05:06:07.123456+00:00"}).status_code == 200
        )

        assert_json(
            client.get(self.url()),
            200,
            [
                {
                    "dag_id": BASH_DAG,
                    "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-04+05%3A06%3A07.123456%2B00%3A00",
                    "execution_date": "2022-03-04T05:06:07.123456+00:00",
                    "id": read_run(app_settings, BASH_DAG, "r1").id,
                    "run_id": "r1",
                    "start_date": "",
                    "state": "queued",
                }
            ],
        )

    def test_a_changed_run_is_listed_as_it_is_now(self, client, app_settings):
        """Rendered items are reused between requests; a run that changed must never be served stale."""
        assert trigger(client, {"run_id": "r1", "execution_date": "2022-03-04T05:06:07+00:00"}).status_code == 200
        assert [(i["state"], i["start_date"]) for i in client.get(self.url()).json()] == [("queued", "")]
        with session_scope(app_settings.database_url) as session:
            run = session.scalar(select(DagRun).where(DagRun.run_id == "r1"))
            run.state = "running"
            run.start_date = datetime(2022, 3, 4, 5, 6, 8, 900, tzinfo=UTC)
        listed = client.get(self.url()).json()
        assert [(i["state"], i["start_date"]) for i in listed] == [("running", "2022-03-04T05:06:08.000900+00:00")]
        assert client.get(self.url(), params={"state": "queued"}).json() == []

    def test_ordered_by_execution_date_in_utc(self, client, app_settings):
        for run_id, date in [("c", "2022-03-03"), ("a", "2022-03-01T05:00:00+05:00"), ("b", "2022-03-02")]:
            assert trigger(client, {"run_id": run_id, "execution_date": date}).status_code == 200
        update_run(app_settings, BASH_DAG, "b", state="running", start_date=datetime(2022, 3, 2, 0, 0, 1, tzinfo=UTC))

        ids = {run.run_id: run.id for run in read_runs(app_settings, BASH_DAG)}
        assert_json(
            client.get(self.url()),
            200,
            [
                {
                    "dag_id": BASH_DAG,
                    "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-01+00%3A00%3A00%2B00%3A00",
                    "execution_date": "2022-03-01T00:00:00+00:00",
                    "id": ids["a"],
                    "run_id": "a",
                    "start_date": "",
                    "state": "queued",
                },
                {
                    "dag_id": BASH_DAG,
                    "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-02+00%3A00%3A00%2B00%3A00",
                    "execution_date": "2022-03-02T00:00:00+00:00",
                    "id": ids["b"],
                    "run_id": "b",
                    "start_date": "2022-03-02T00:00:01+00:00",
                    "state": "running",
                },
                {
                    "dag_id": BASH_DAG,
                    "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-03+00%3A00%3A00%2B00%3A00",
                    "execution_date": "2022-03-03T00:00:00+00:00",
                    "id": ids["c"],
                    "run_id": "c",
                    "start_date": "",
                    "state": "queued",
                },
            ],
        )

    def test_only_this_dags_runs(self, client, app_settings):
        insert_run(app_settings, "example_pool", "other", datetime(2022, 1, 1, tzinfo=UTC))

        assert_json(client.get(self.url()), 200, [])

    def test_dag_without_runs_is_an_empty_list(self, client):
        assert_json(client.get(self.url()), 200, [])

    @pytest.mark.parametrize("state", ["queued", "QUEUED", "Queued"])
    def test_state_filter_is_case_insensitive(self, client, app_settings, state):
        insert_run(app_settings, BASH_DAG, "q", datetime(2022, 1, 1, tzinfo=UTC), state="queued")
        insert_run(app_settings, BASH_DAG, "s", datetime(2022, 1, 2, tzinfo=UTC), state="success")

        response = client.get(self.url(), params={"state": state})

        assert response.status_code == 200
        assert [item["run_id"] for item in response.json()] == ["q"]

    @pytest.mark.parametrize(
        ("state", "run_ids"),
        [("running", ["r"]), ("success", ["s"]), ("failed", ["f"]), ("queued", []), ("", ["r", "s", "f"])],
    )
    def test_state_filter(self, client, app_settings, state, run_ids):
        insert_run(app_settings, BASH_DAG, "r", datetime(2022, 1, 1, tzinfo=UTC), state="running")
        insert_run(app_settings, BASH_DAG, "s", datetime(2022, 1, 2, tzinfo=UTC), state="success")
        insert_run(app_settings, BASH_DAG, "f", datetime(2022, 1, 3, tzinfo=UTC), state="failed")

        response = client.get(self.url(), params={"state": state})

        assert response.status_code == 200
        assert [item["run_id"] for item in response.json()] == run_ids

    @pytest.mark.parametrize("state", ["dummy", "RUNNINGX", "none", "up_for_retry", " queued"])
    def test_unknown_state_is_rejected(self, client, state):
        assert_error(
            client.get(self.url(), params={"state": state}),
            400,
            f"Invalid state {state!r}: the valid states are queued, running, success, failed",
        )

    def test_unknown_dag_is_a_400(self, client):
        assert_error(client.get(self.url("nope")), 400, "Dag id nope not found in DagModel")

    def test_the_dag_is_checked_before_the_state(self, client):
        assert_error(client.get(self.url("nope"), params={"state": "dummy"}), 400, "Dag id nope not found in DagModel")

    def test_dag_without_serialized_form_is_a_400(self, client, app_settings):
        delete_serialized_dag(app_settings, BASH_DAG)

        assert_error(client.get(self.url()), 400, f"Dag id {BASH_DAG} not found")


class TestGetDagRunState:
    def url(self, date: str, dag_id: str = BASH_DAG) -> str:
        return f"{BASE}/dags/{dag_id}/dag_runs/{date}"

    @pytest.fixture
    def run(self, client):
        response = trigger(client, {"run_id": "r", "execution_date": "2022-03-05T10:00:00.250000+02:00"})
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "date",
        [
            "2022-03-05T10:00:00.250000+02:00",  # `+` unencoded in the path
            quote_plus("2022-03-05T10:00:00.250000+02:00"),
            "2022-03-05T08:00:00.25Z",
            "2022-03-05T08:00:00.250000+00:00",
            "2022-03-05T08:00:00.250000",
            "2022-03-05 08:00:00.250000",
            "2022-03-05T03:00:00.250000-05:00",
        ],
    )
    def test_any_spelling_of_the_same_instant_finds_the_run(self, client, run, date):
        assert_json(client.get(self.url(date)), 200, {"state": "queued"})

    @pytest.mark.parametrize("state", ["running", "success", "failed"])
    def test_answers_the_stored_state(self, client, app_settings, run, state):
        update_run(app_settings, BASH_DAG, "r", state=state)

        assert_json(client.get(self.url("2022-03-05T08:00:00.25Z")), 200, {"state": state})

    def test_the_instant_must_match_to_the_microsecond(self, client, run):
        assert_error(
            client.get(self.url("2022-03-05T08:00:00Z")),
            404,
            "Dag Run for date 2022-03-05 08:00:00+00:00 not found in dag example_bash_operator",
        )

    def test_no_run_at_that_date(self, client):
        assert_error(
            client.get(self.url("1990-01-01")),
            404,
            "Dag Run for date 1990-01-01 00:00:00+00:00 not found in dag example_bash_operator",
        )

    def test_not_found_message_keeps_the_requested_offset(self, client):
        assert_error(
            client.get(self.url("1990-01-01T01:01:01+02:00")),
            404,
            "Dag Run for date 1990-01-01 01:01:01+02:00 not found in dag example_bash_operator",
        )

    def test_unknown_dag(self, client):
        assert_error(client.get(self.url("2022-01-01", dag_id="nope")), 404, "Dag id nope not found in DagModel")

    def test_dag_without_serialized_form(self, client, app_settings):
        delete_serialized_dag(app_settings, BASH_DAG)

        assert_error(client.get(self.url("2022-01-01")), 404, f"Dag id {BASH_DAG} not found")

    @pytest.mark.parametrize(
        "raw",
        ["bad", "not_a_datetime", "2024-13-01", "9999-12-31T23:00:00-05:00", "1" * 5000],
        ids=lambda raw: raw if len(raw) < 40 else f"{len(raw)}-characters",
    )
    def test_bad_date(self, client, raw):
        assert_error(client.get(self.url(raw)), 400, INVALID_DATE.format(raw=raw))

    def test_the_date_is_checked_before_the_dag(self, client):
        assert_error(client.get(self.url("bad", dag_id="nope")), 400, INVALID_DATE.format(raw="bad"))
