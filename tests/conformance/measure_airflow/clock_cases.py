"""Measure the clock-dependent examples' outcomes for chosen instants, in real Airflow.

    python clock_cases.py DAGS_FOLDER OUT.json

Each case runs `dag.test()` with `airflow.utils.timezone.utcnow` patched to the instant (the
branch operators read the clock through it) and the logical date set to the same instant.
Point AIRFLOW__DATABASE__SQL_ALCHEMY_CONN at a scratch database.

A case may name one task (SUBSET_CASES): then only that task runs (`dag.partial_subset`), for a
clock-dependent sensor in a DAG whose other tasks wait for real time (example_sensors'
DayOfWeekSensor); export_expected.py puts that task's state into the measured manual run's states.

    python clock_cases.py DAGS_FOLDER OUT.json [DAG_ID ...]   (only those DAG ids' cases)
"""

from __future__ import annotations

import json
import sys
from unittest import mock

import pendulum
from airflow.models.dagbag import DagBag
from airflow.providers.fab.auth_manager.models import User  # noqa: F401 - maps ab_user, so re-measuring
from airflow.utils import timezone  # can delete an earlier run of the same date (dag_run_note refers to it)

# (dag_id, case, instant): Monday 2026-12-07, Saturday 12-05 and 12-12, Wednesday 12-09.
CASES = [
    ("example_weekday_branch_operator", "monday", "2026-12-07T10:00:00+00:00"),
    ("example_weekday_branch_operator", "weekend", "2026-12-05T10:00:00+00:00"),
    ("example_weekday_branch_operator", "midweek", "2026-12-09T10:00:00+00:00"),
    ("example_branch_datetime_operator_2", "from_15_to_midnight", "2026-12-08T16:30:00+00:00"),
    ("example_branch_datetime_operator_2", "before_15", "2026-12-08T10:30:00+00:00"),
    ("example_branch_dop_operator_v3", "even_minute", "2026-12-10T10:30:00+00:00"),
    ("example_branch_dop_operator_v3", "odd_minute", "2026-12-11T10:31:00+00:00"),
    ("example_bash_decorator", "saturday", "2026-12-12T10:30:00+00:00"),
]
# (dag_id, case, instant, the one task run): DayOfWeekSensor(week_day=MONDAY) on a Monday and a Friday.
SUBSET_CASES = [
    ("example_sensors", "monday", "2026-12-07T10:00:00+00:00", "week_day_sensor_failing_on_timeout"),
    ("example_sensors", "other_day", "2026-12-04T10:00:00+00:00", "week_day_sensor_failing_on_timeout"),
]


def main(dags_folder: str, out_path: str, *only: str) -> None:
    bag = DagBag(dags_folder, include_examples=False)
    measured: dict[str, dict] = {}
    cases = [(dag_id, case, instant, None) for dag_id, case, instant in CASES] + SUBSET_CASES
    for dag_id, case, instant, task_id in cases:
        if only and dag_id not in only:
            continue
        at = pendulum.parse(instant)
        dag = bag.get_dag(dag_id)
        if task_id is not None:
            dag = dag.partial_subset(task_ids_or_regex=[task_id], include_downstream=False, include_upstream=False)
        with mock.patch.object(timezone, "utcnow", lambda at=at: at):
            run = dag.test(execution_date=at)
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        entry = {"instant": instant, "run_state": run.state, "task_states": states}
        if task_id is not None:
            entry["only_task"] = task_id
        measured.setdefault(dag_id, {})[case] = entry
        print(dag_id, case, run.state, states, flush=True)
    with open(out_path, "w") as handle:
        json.dump(measured, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
