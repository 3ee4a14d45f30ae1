"""The v1 list lines (DAGs, runs, task instances) read rows straight from the database and keep rendered
items by the values they are made of (slipstream.storage.raw_rows). Here: each item a list shows is what
the single-object endpoint (rendered from ORM rows) shows for it, on rows with every optional value set
and unset; pages and filters select what the whole list holds; and a changed row is never served from
an item rendered before the change.
"""

from __future__ import annotations

import copy
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from slipstream.storage.db import session_scope
from slipstream.storage.models import (
    DagModel,
    DagRun,
    ImportErrorModel,
    Job,
    SerializedDagModel,
    TaskInstance,
    Trigger,
)

V1 = "/api/v1"
BASH = "example_bash_operator"
WHEN = datetime(2021, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@pytest.fixture
def varied(app_settings):
    """Six runs of example_bash_operator with their task instances, set and unset in every optional value:
    notes, conf, dates with and without microseconds, no dates, a deferred instance with a trigger held by a
    triggerer, one whose trigger is gone, a mapped task, a task the DAG no longer has; and DAGs with tags,
    paused, with an import error."""
    with session_scope(app_settings.database_url) as db:
        job_id = db.execute(
            insert(Job).values(job_type="TriggererJob", hostname="h1", start_date=WHEN, latest_heartbeat=WHEN)
        ).inserted_primary_key[0]
        held = db.execute(
            insert(Trigger).values(classpath="a.b.Held", kwargs="x", created_date=WHEN, triggerer_id=job_id)
        ).inserted_primary_key[0]
        free = db.execute(
            insert(Trigger).values(classpath="a.b.Free", kwargs="x", created_date=WHEN)
        ).inserted_primary_key[0]
        for n in range(6):
            start = WHEN + timedelta(minutes=n, microseconds=-WHEN.microsecond if n % 2 else 0)
            run_id = f"varied_{n}"
            db.execute(
                insert(DagRun).values(
                    dag_id=BASH,
                    run_id=run_id,
                    execution_date=WHEN + timedelta(days=n),
                    state=("success", "queued", "running", "failed")[n % 4],
                    run_type="manual" if n % 2 else "scheduled",
                    external_trigger=bool(n % 2),
                    conf={"b": n, "a": [1, {"z": None}], "u": "\u00e9"} if n % 3 == 0 else {},
                    start_date=None if n == 1 else start,
                    end_date=start + timedelta(seconds=30) if n in (0, 3) else None,
                    data_interval_start=None if n == 5 else WHEN,
                    data_interval_end=None if n == 5 else WHEN + timedelta(hours=1),
                    last_scheduling_decision=WHEN if n == 2 else None,
                    note=f"note {n} \u2603" if n % 2 == 0 else None,
                )
            )
            tasks = [("runme_0", -1), ("runme_1", -1), ("run_after_loop", -1), ("gone_task", -1), ("mapped", 0)]
            for i, (task_id, map_index) in enumerate(tasks):
                k = n * len(tasks) + i
                db.execute(
                    insert(TaskInstance).values(
                        dag_id=BASH,
                        run_id=run_id,
                        task_id=task_id,
                        map_index=map_index,
                        state=(None, "success", "deferred", "failed", "up_for_retry")[k % 5],
                        try_number=k % 3,
                        max_tries=k % 2,
                        start_date=None if k % 4 == 0 else start,
                        end_date=None if k % 3 == 0 else start + timedelta(seconds=k),
                        duration=None if k % 3 == 0 else 0.1 * k,
                        hostname="host" if k % 2 else "",
                        unixname="bob" if k % 5 == 1 else "",
                        pid=100 + k if k % 2 else None,
                        executor="LocalExecutor" if k % 4 == 1 else None,
                        executor_config={"z": 1, "a": {"image": "x"}} if k % 3 == 1 else {},
                        rendered_fields={"bash_command": 'echo "{{ ds }}"'} if k % 4 == 2 else None,
                        rendered_map_index="idx" if map_index >= 0 else None,
                        queued_dttm=WHEN if k % 2 == 0 else None,
                        pool="other_pool" if k % 7 == 0 else "default_pool",
                        queue="q2" if k % 6 == 0 else "default",
                        operator="BashOperator",
                        note=f"ti note {k}" if k % 5 == 3 else None,
                        trigger_id=(held, free, 999_999)[k % 3] if k % 5 == 2 else None,
                    )
                )
        dag_ids = list(db.scalars(select(DagModel.dag_id).order_by(DagModel.dag_id)))
        for i, dag_id in enumerate(dag_ids):
            db.execute(
                update(DagModel)
                .where(DagModel.dag_id == dag_id)
                .values(tags=["example", f"t{i % 2}"] if i % 3 == 0 else [], is_paused=i % 4 == 0, description=f"d{i}")
            )
        failing = db.scalar(select(DagModel.fileloc).where(DagModel.dag_id == dag_ids[1]))
        db.execute(insert(ImportErrorModel).values(filename=failing, stacktrace="boom", timestamp=WHEN))
    return app_settings


def _list(client, path: str, key: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {key, "total_entries"}
    return response.json()


def _all_pages(client, path: str, key: str, size: int, **params) -> list[dict]:
    items: list[dict] = []
    while True:
        page = _list(client, path, key, limit=size, offset=len(items), **params)[key]
        items += page
        if len(page) < size:
            return items


class TestTaskInstanceLists:
    def test_each_listed_instance_is_the_single_instance_answer(self, client, varied):
        body = _list(client, f"{V1}/dags/{BASH}/dagRuns/~/taskInstances", "task_instances")
        assert body["total_entries"] == len(body["task_instances"]) == 30
        for item in body["task_instances"]:
            path = f"{V1}/dags/{BASH}/dagRuns/{_q(item['dag_run_id'])}/taskInstances/{item['task_id']}"
            if item["map_index"] >= 0:
                path += f"/{item['map_index']}"
            assert client.get(path).json() == item
        shown = {(i["trigger"] or {}).get("classpath"): i["triggerer_job"] for i in body["task_instances"]}
        assert shown["a.b.Held"]["hostname"] == "h1" and shown["a.b.Free"] is None and None in shown

    def test_the_cached_answer_is_the_same_and_a_changed_row_is_rendered_again(self, client, varied):
        path = f"{V1}/dags/{BASH}/dagRuns/varied_2/taskInstances"
        first = client.get(path).content
        assert client.get(path).content == first
        batch = client.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"dag_run_ids": ["varied_2"]})
        assert batch.content == first
        with session_scope(varied.database_url) as db:
            db.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == "varied_2", TaskInstance.task_id == "runme_1")
                .values(hostname="elsewhere", duration=0.30000000000000004)
            )
            db.execute(update(Job).values(hostname="h2"))
        changed = {i["task_id"]: i for i in client.get(path).json()["task_instances"]}
        assert changed["runme_1"]["hostname"] == "elsewhere"
        assert changed["runme_1"]["duration"] == 0.30000000000000004
        held = [i for i in changed.values() if (i["trigger"] or {}).get("classpath") == "a.b.Held"]
        assert all(i["triggerer_job"]["hostname"] == "h2" for i in held)
        with session_scope(varied.database_url) as db:  # a duration only past 15 digits apart is a change too
            db.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == "varied_2", TaskInstance.task_id == "runme_1")
                .values(duration=0.3)
            )
        again = {i["task_id"]: i for i in client.get(path).json()["task_instances"]}
        assert again["runme_1"]["duration"] == 0.3

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"dag_ids": [BASH], "state": ["none", "deferred"]},
            {"task_ids": ["mapped", "gone_task"], "pool": ["other_pool", "default_pool"]},
            {"queue": ["q2"], "duration_gte": 0.5, "duration_lte": 2.0},
            {"execution_date_gte": (WHEN + timedelta(days=2)).isoformat(), "executor": ["LocalExecutor"]},
            {"state": []},
            {"dag_ids": []},
        ],
    )
    def test_batch_pages_and_filters_select_what_the_whole_list_holds(self, client, varied, body):
        everything = client.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"page_limit": 10_000}).json()
        mine = [i for i in everything["task_instances"] if i["dag_run_id"].startswith("varied_")]
        assert len(mine) == 30

        def wanted(item: dict) -> bool:
            ranges = {"duration": item["duration"], "execution_date": item["execution_date"]}
            for name, value in ranges.items():
                low, high = body.get(f"{name}_gte"), body.get(f"{name}_lte")
                if low is not None and (value is None or value < low):
                    return False
                if high is not None and (value is None or value > high):
                    return False
            states = [None if s == "none" else s for s in body.get("state", [])] if "state" in body else None
            lists = {
                "dag_ids": "dag_id",
                "task_ids": "task_id",
                "pool": "pool",
                "queue": "queue",
                "executor": "executor",
            }
            return (states is None or not body["state"] or item["state"] in states) and all(
                item[field] in body[name] for name, field in lists.items() if name in body
            )

        pages: list[dict] = []
        while True:
            request = {
                **body,
                "dag_run_ids": [f"varied_{n}" for n in range(6)],
                "page_limit": 4,
                "page_offset": len(pages),
            }
            answer = client.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json=request).json()
            pages += answer["task_instances"]
            if len(answer["task_instances"]) < 4:
                break
        expected = [i for i in mine if wanted(i)]
        assert pages == expected
        assert answer["total_entries"] == len(expected)


class TestRunLists:
    def test_each_listed_run_is_the_single_run_answer(self, client, varied):
        body = _list(client, f"{V1}/dags/{BASH}/dagRuns", "dag_runs")
        assert body["total_entries"] == len(body["dag_runs"]) == 6
        for item in body["dag_runs"]:
            assert client.get(f"{V1}/dags/{BASH}/dagRuns/{_q(item['dag_run_id'])}").json() == item

    @pytest.mark.parametrize(
        "order_by",
        ["id", "-id", "state", "-state", "execution_date", "-execution_date", "dag_run_id", "-dag_run_id",
         "start_date", "-start_date", "end_date", "-end_date", "updated_at", "-updated_at", "external_trigger",
         "-external_trigger", "conf", "-conf", "dag_id", "-dag_id"],
    )  # fmt: skip
    def test_pages_in_each_order_hold_every_run_once(self, client, varied, order_by):
        whole = _list(client, f"{V1}/dags/~/dagRuns", "dag_runs", order_by=order_by)["dag_runs"]
        paged = _all_pages(client, f"{V1}/dags/~/dagRuns", "dag_runs", 4, order_by=order_by)
        assert paged == whole and len({r["dag_run_id"] for r in whole}) == len(whole) == 6
        field = order_by.lstrip("-").replace("dag_run_id", "dag_run_id")
        if field in ("state", "execution_date", "dag_run_id"):
            values = [r[field] for r in whole]
            assert values == sorted(values, reverse=order_by.startswith("-"))

    def test_fields_filters_and_changes(self, client, varied):
        path = f"{V1}/dags/{BASH}/dagRuns"
        whole = _list(client, path, "dag_runs")["dag_runs"]
        some = _list(client, path, "dag_runs", fields="note,dag_run_id")["dag_runs"]
        assert some == [{"note": r["note"], "dag_run_id": r["dag_run_id"]} for r in whole]
        states = _list(client, path, "dag_runs", state=["queued", "failed"])
        assert states["dag_runs"] == [r for r in whole if r["state"] in ("queued", "failed")]
        assert states["total_entries"] == len(states["dag_runs"]) == 3
        since = (WHEN + timedelta(days=3)).isoformat()
        later = _list(client, path, "dag_runs", execution_date_gte=since)["dag_runs"]
        assert later == [r for r in whole if r["execution_date"] >= since]
        with session_scope(varied.database_url) as db:
            db.execute(update(DagRun).where(DagRun.run_id == "varied_4").values(conf={"new": True}, note=None))
        changed = {r["dag_run_id"]: r for r in _list(client, path, "dag_runs")["dag_runs"]}
        assert changed["varied_4"]["conf"] == {"new": True} and changed["varied_4"]["note"] is None


class TestDagList:
    def test_each_listed_dag_is_the_single_dag_answer(self, client, varied):
        body = _list(client, f"{V1}/dags", "dags", only_active="false")
        assert body["total_entries"] == len(body["dags"])
        assert any(d["has_import_errors"] for d in body["dags"]) and any(d["tags"] for d in body["dags"])
        for item in body["dags"]:
            assert client.get(f"{V1}/dags/{item['dag_id']}").json() == item

    def test_pages_filters_and_changes(self, client, varied):
        whole = _list(client, f"{V1}/dags", "dags")["dags"]
        assert _all_pages(client, f"{V1}/dags", "dags", 3) == whole
        backwards = _list(client, f"{V1}/dags", "dags", order_by="-dag_id")["dags"]
        assert backwards == whole[::-1]
        tagged = _list(client, f"{V1}/dags", "dags", tags=["t1", "nope"], limit=2, offset=1)
        with_t1 = [d for d in whole if {"name": "t1"} in d["tags"]]
        assert tagged["dags"] == with_t1[1:3] and tagged["total_entries"] == len(with_t1)
        paused = _list(client, f"{V1}/dags", "dags", paused="true", dag_id_pattern="example_")
        assert paused["dags"] == [d for d in whole if d["is_paused"] and "example_" in d["dag_id"]]
        ids = _list(client, f"{V1}/dags", "dags", fields=["dag_id", "is_paused"])["dags"]
        assert ids == [{"dag_id": d["dag_id"], "is_paused": d["is_paused"]} for d in whole]
        with session_scope(varied.database_url) as db:
            db.execute(update(DagModel).where(DagModel.dag_id == BASH).values(tags=["changed"], is_paused=True))
        bash = next(d for d in _list(client, f"{V1}/dags", "dags")["dags"] if d["dag_id"] == BASH)
        assert bash["tags"] == [{"name": "changed"}] and bash["is_paused"] is True


def test_a_dag_parsed_anew_is_shown_anew_in_the_lists(client, varied):
    """What lists show from the serialized DAG (owners, display names) is kept by its hash: a new
    serialization (a new hash) is shown at once."""
    dags_path = f"{V1}/dags"
    tis_path = f"{V1}/dags/{BASH}/dagRuns/varied_0/taskInstances"
    before = next(d for d in _list(client, dags_path, "dags")["dags"] if d["dag_id"] == BASH)
    names = {i["task_id"]: i["task_display_name"] for i in _list(client, tis_path, "task_instances")["task_instances"]}
    assert names["runme_0"] == "runme_0" and before["owners"] != ["someone"]
    with session_scope(varied.database_url) as db:
        stored = db.get(SerializedDagModel, BASH)
        data = copy.deepcopy(stored.data)
        data["api"] = {**(data.get("api") or {}), "owners": "someone"}
        task = data["tasks"]["runme_0"]
        task["display"] = {**(task.get("display") or {}), "task_display_name": "Run me"}
        db.execute(
            update(SerializedDagModel).where(SerializedDagModel.dag_id == BASH).values(data=data, dag_hash="x" * 64)
        )
    after = next(d for d in _list(client, dags_path, "dags")["dags"] if d["dag_id"] == BASH)
    assert after["owners"] == ["someone"] and client.get(f"{dags_path}/{BASH}").json() == after
    names = {i["task_id"]: i["task_display_name"] for i in _list(client, tis_path, "task_instances")["task_instances"]}
    assert names["runme_0"] == "Run me"
    batch = client.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"dag_run_ids": ["varied_0"]}).json()
    assert {i["task_id"]: i["task_display_name"] for i in batch["task_instances"]} == names
