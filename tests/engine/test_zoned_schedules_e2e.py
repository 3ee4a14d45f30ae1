"""Schedules in a DAG's time zone across DST (task-model-semantics §15), and the timetable classes,
on real runs: the scheduler creates the runs from the DAG file's start_date zone."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.engine.support import add_dag, read_runs, wait_for, wait_for_run

BERLIN_DAG = """
import pendulum

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator

with DAG(
    "berlin_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2024, 3, 29, tz="Europe/Berlin"),
    end_date=pendulum.datetime(2024, 4, 1, 12, tz="Europe/Berlin"),
    catchup=True,
) as dag:
    EmptyOperator(task_id="noop")
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_zoned_cron_keeps_its_wall_time_across_the_spring_change(engine_settings, scheduler):
    add_dag(engine_settings, "berlin_nightly", BERLIN_DAG)
    wait_for(lambda: len(read_runs(engine_settings, "berlin_nightly")) == 4, 20, "four scheduled runs")
    runs = read_runs(engine_settings, "berlin_nightly")
    # 02:00 Berlin is 01:00Z in winter time; on 03-31 02:00 does not exist and moves to 03:00 CEST (01:00Z);
    # from 04-01 it is 00:00Z.
    assert [r.execution_date for r in runs] == [utc(2024, 3, 29, 1), utc(2024, 3, 30, 1), utc(2024, 3, 31, 1),
                                                utc(2024, 4, 1, 0)]  # fmt: skip
    assert [r.data_interval_end for r in runs] == [utc(2024, 3, 30, 1), utc(2024, 3, 31, 1), utc(2024, 4, 1, 0),
                                                   utc(2024, 4, 2, 0)]  # fmt: skip
    assert runs[0].run_id == "scheduled__2024-03-29T01:00:00+00:00"
    for run in runs:
        assert wait_for_run(engine_settings, "berlin_nightly", run.run_id) == "success"


TIMETABLES_DAG = """
from datetime import timedelta

import pendulum
from dateutil.relativedelta import relativedelta

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator
from airflow.timetables.interval import DeltaDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

start = pendulum.datetime(2024, 1, 1, tz="UTC")
end = pendulum.datetime(2024, 1, 3, 12, tz="UTC")
with DAG("trigger_tt", schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC", interval=timedelta(hours=1)),
         start_date=start, end_date=end) as a:
    EmptyOperator(task_id="noop")
with DAG("monthly_delta", schedule=relativedelta(months=1), start_date=start,
         end_date=pendulum.datetime(2024, 3, 15, tz="UTC")) as b:
    EmptyOperator(task_id="noop")
with DAG("delta_tt", schedule=DeltaDataIntervalTimetable(timedelta(hours=12)), start_date=start, end_date=end) as c:
    EmptyOperator(task_id="noop")
"""


def test_timetable_classes_and_relativedelta(engine_settings, scheduler):
    add_dag(engine_settings, "timetables", TIMETABLES_DAG)

    def intervals(dag_id, count):
        runs = read_runs(engine_settings, dag_id)
        return (
            [(r.execution_date, r.data_interval_start, r.data_interval_end) for r in runs]
            if len(runs) == count
            else None
        )

    # CronTriggerTimetable: logical date = interval start = tick - interval; run after the tick.
    trigger_runs = wait_for(lambda: intervals("trigger_tt", 3), 20, "three trigger runs")
    assert trigger_runs[0] == (utc(2024, 1, 1, 5), utc(2024, 1, 1, 5), utc(2024, 1, 1, 6))
    assert trigger_runs[2][2] == utc(2024, 1, 3, 6)
    monthly = wait_for(lambda: intervals("monthly_delta", 3), 20, "three monthly runs")
    assert [m[0] for m in monthly] == [utc(2024, 1, 1), utc(2024, 2, 1), utc(2024, 3, 1)]
    assert monthly[0][2] == utc(2024, 2, 1)
    delta = wait_for(lambda: intervals("delta_tt", 6), 20, "six 12-hour runs")
    assert delta[1] == (utc(2024, 1, 1, 12), utc(2024, 1, 1, 12), utc(2024, 1, 2))
