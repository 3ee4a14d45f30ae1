"""/api/v1 task logs: the files real tries wrote, served as Airflow 2.10.5 serves them (a Python repr of
(host, text) tuples in JSON, or the text), with signed continuation tokens, also while a try runs."""

from __future__ import annotations

import ast
import base64
import json
import textwrap

import pytest

from slipstream.api.app import create_app
from slipstream.dag_processing import process_all
from slipstream.scheduler.loop import SchedulerThread
from tests.api.v1 import task_runs
from tests.api.v1.golden import exchange
from tests.api.v1.task_runs import V1
from tests.engine.support import task_instances, trigger, wait_for, wait_for_run

ran_template, ran_settings, ran = task_runs.ran_template, task_runs.ran_settings, task_runs.ran

RUNME_0 = f"{V1}/dags/example_bash_operator/dagRuns/golden_bash_1/taskInstances/runme_0/logs"
JSON = {"Accept": "application/json"}
TEXT = {"Accept": "text/plain"}


def content(response) -> list[tuple[str, str]]:
    """The JSON answer's content: a Python literal, as Airflow's."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    parsed = ast.literal_eval(response.json()["content"])
    assert isinstance(parsed, list) and all(isinstance(item, tuple) and len(item) == 2 for item in parsed)
    return parsed


def token_metadata(token: str) -> dict:
    payload = token.rsplit(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_finished_try_as_json_and_as_text(ran, ran_settings):
    as_json = ran.get(f"{RUNME_0}/1", headers=JSON)
    [(host, text)] = content(as_json)
    hostname = task_instances(ran_settings, "example_bash_operator", "golden_bash_1")["runme_0"].hostname
    assert host == hostname
    assert text.startswith(" INFO - ::group::Log message source details\n*** Found local files:\n***   * ")
    assert "1.log\n INFO - ::endgroup::\n" in text
    assert "example_bash_operator__runme_0__20240101" in text and "Marking task as SUCCESS" in text
    assert set(as_json.json()) == set(exchange(232)["response"]["body"])
    assert token_metadata(as_json.json()["continuation_token"])["end_of_log"] is True

    as_text = ran.get(f"{RUNME_0}/1", headers=TEXT)
    assert as_text.status_code == 200
    assert as_text.headers["content-type"] == exchange(233)["response"]["content_type"] == "text/plain"
    assert as_text.text == f"{host}\n{text}\n"


def test_without_an_accept_header_the_answer_is_json(ran):
    # httpx sends `*/*` unless told otherwise; Airflow's best_match picks text/plain for that, JSON for none.
    assert ran.get(f"{RUNME_0}/1", headers={"Accept": ""}).headers["content-type"] == "application/json"
    assert ran.get(f"{RUNME_0}/1", headers={"Accept": "*/*"}).headers["content-type"] == "text/plain"
    assert ran.get(f"{RUNME_0}/1", headers={"Accept": "text/html"}).headers["content-type"] == "application/json"
    preferred = ran.get(f"{RUNME_0}/1", headers={"Accept": "text/plain;q=0.5, application/json"})
    assert preferred.headers["content-type"] == "application/json"


def test_full_content_is_the_same_text_for_a_file(ran):
    assert content(ran.get(f"{RUNME_0}/1", params={"full_content": "true"}, headers=JSON)) == content(
        ran.get(f"{RUNME_0}/1", headers=JSON)
    )


def test_the_continuation_token_returns_only_what_is_new(ran):
    first = ran.get(f"{RUNME_0}/1", headers=JSON).json()
    again = ran.get(f"{RUNME_0}/1", params={"token": first["continuation_token"]}, headers=JSON)
    [(host, text)] = content(again)
    assert text == ""
    assert exchange(237)["response"]["body"]["content"] == "[('vm', '')]"  # Airflow's, on its host


@pytest.mark.parametrize("token", ["not-a-token", "eyJsb2dfcG9zIjowfQ.forged", "eyJsb2dfcG9zIjowfQ"])
def test_a_forged_token_is_airflows_400(ran, token):
    response = ran.get(f"{RUNME_0}/1", params={"token": token}, headers=JSON)
    assert response.status_code == 400
    assert response.json() == exchange(238)["response"]["body"]


def test_a_token_signed_elsewhere_is_refused(ran):
    # A payload that claims a position, with another server's signature.
    token = exchange(237)["request"]["query"]["token"]
    assert ran.get(f"{RUNME_0}/1", params={"token": token}, headers=JSON).status_code == 400


def test_a_try_that_never_ran_and_try_zero(ran):
    [(host, text)] = content(ran.get(f"{RUNME_0}/3", headers=JSON))
    assert text.startswith(" INFO - ::group::Log message source details\n*** ")
    assert text.endswith(" INFO - ::endgroup::\n")
    assert "3.log" in text
    zero = ran.get(f"{RUNME_0}/0", headers=JSON).json()
    assert zero["content"] == exchange(242)["response"]["body"]["content"]
    assert token_metadata(zero["continuation_token"])["end_of_log"] is True


@pytest.mark.parametrize("seq", [243, 244, 245, 247])
def test_unknown_task_instances_are_airflows_404s(ran, seq):
    request = exchange(seq)["request"]
    response = ran.get(request["url"], headers=request.get("headers") or JSON)
    assert response.status_code == 404
    assert response.json() == exchange(seq)["response"]["body"]


def test_a_mapped_try_by_its_map_index_and_a_skipped_one(ran):
    mapped = ran.get(
        f"{V1}/dags/example_dynamic_task_mapping/dagRuns/golden_mapping_1/taskInstances/add_one/logs/1",
        params={"map_index": 1},
        headers=TEXT,
    )
    assert mapped.status_code == 200
    assert "map_index=1/1.log" in mapped.text and "Marking task as SUCCESS" in mapped.text
    skipped = ran.get(f"{V1}/dags/example_bash_operator/dagRuns/golden_bash_1/taskInstances/this_will_skip/logs/1")
    assert "Bash command returned exit code 99. Skipping." in skipped.text


def test_both_tries_of_a_retried_task(ran):
    base = f"{V1}/dags/retry_once/dagRuns/retry_1/taskInstances/flaky/logs"
    first = ran.get(f"{base}/1", headers=TEXT).text
    second = ran.get(f"{base}/2", headers=TEXT).text
    assert "first try fails on purpose" in first and "Marking task as UP_FOR_RETRY" in first
    assert "second try succeeds" in second and "Marking task as SUCCESS" in second


SLOW_WRITER = """
from datetime import datetime
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="slow_writer", schedule=None, start_date=datetime(2024, 1, 1)):
    BashOperator(task_id="write", bash_command="echo first-line; sleep 4; echo second-line")
"""


def test_a_running_try_is_read_while_it_writes_and_followed_with_its_token(ran_settings):
    settings = ran_settings.with_overrides(scheduler_loop_interval=0.02, task_heartbeat_interval=0.2)
    (settings.dags_folder / "slow_writer.py").write_text(textwrap.dedent(SLOW_WRITER))
    assert not process_all(settings).import_errors
    client = create_app(settings).test_client()
    run_id = trigger(settings, "slow_writer")
    url = f"{V1}/dags/slow_writer/dagRuns/{run_id}/taskInstances/write/logs/1"
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:

        def running_with_first_line():
            ti = task_instances(settings, "slow_writer", run_id).get("write")
            if ti is None or ti.state != "running":
                return None
            body = client.get(url, headers=JSON).json()
            return body if "first-line" in body["content"] else None

        first = wait_for(running_with_first_line, timeout=30, message="the try to write its first line")
        assert "second-line" not in first["content"]
        assert token_metadata(first["continuation_token"])["end_of_log"] is False
        assert wait_for_run(settings, "slow_writer", run_id, timeout=60) == "success"
    finally:
        scheduler.stop(timeout=30)
    rest = client.get(url, params={"token": first["continuation_token"]}, headers=JSON).json()
    [(_host, text)] = ast.literal_eval(rest["content"])
    assert "second-line" in text and "first-line" not in text and "Log message source details" not in text
    assert token_metadata(rest["continuation_token"])["end_of_log"] is True
