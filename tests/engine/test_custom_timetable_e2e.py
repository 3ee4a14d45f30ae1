"""A custom Timetable from a plugin (task-model-semantics §15): registered through
AirflowPlugin.timetables in the plugins folder, it schedules real runs; unregistered, the DAG file is
an import error with Airflow's message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipstream import plugins
from slipstream.dag_processing.manager import process_all
from tests.engine.support import add_dag, read_runs, wait_for, write_dag

PLUGIN = """
from datetime import timedelta

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable


class WeekdayMornings(Timetable):
    \"\"\"A run for each weekday, over [06:00, 06:00 next day), created when it ends; weekends skipped.\"\"\"

    def __init__(self, hour=6):
        self.hour = hour

    def serialize(self):
        return {"hour": self.hour}

    @classmethod
    def deserialize(cls, data):
        return cls(data["hour"])

    @property
    def summary(self):
        return f"weekdays at {self.hour:02d}:00"

    def _weekday_start(self, moment):
        start = moment.replace(hour=self.hour, minute=0, second=0, microsecond=0)
        if start < moment:
            start += timedelta(days=1)
        while start.weekday() >= 5:
            start += timedelta(days=1)
        return start

    def infer_manual_data_interval(self, *, run_after):
        return DataInterval(run_after - timedelta(days=1), run_after)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        if last_automated_data_interval is not None:
            start = self._weekday_start(last_automated_data_interval.start + timedelta(days=1))
        elif restriction.earliest is None:
            return None
        else:
            start = self._weekday_start(restriction.earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start, start + timedelta(days=1))


class SchedulingPlugin(AirflowPlugin):
    name = "scheduling"
    timetables = [WeekdayMornings]
"""

DAG_FILE = """
import pendulum

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator
from weekday_mornings import WeekdayMornings

with DAG(
    "weekday_mornings",
    schedule=WeekdayMornings(),
    start_date=pendulum.datetime(2024, 1, 5, tz="UTC"),  # a Friday
    end_date=pendulum.datetime(2024, 1, 9, tz="UTC"),
) as dag:
    EmptyOperator(task_id="noop")
"""

UNREGISTERED = """
import pendulum

from airflow.models.dag import DAG
from airflow.timetables.base import Timetable


class Mine(Timetable):
    pass


with DAG("unregistered", schedule=Mine(), start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    pass
"""


@pytest.fixture
def plugins_folder(engine_settings, monkeypatch):
    folder = engine_settings.dags_folder.parent / "plugins"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("SLIPSTREAM_PLUGINS_FOLDER", str(folder))
    monkeypatch.setattr(plugins, "_registry", None)
    return folder


def test_a_plugin_timetable_schedules_runs(engine_settings, plugins_folder, scheduler):
    (plugins_folder / "weekday_mornings.py").write_text(PLUGIN)
    add_dag(engine_settings, "weekday_dag", DAG_FILE)
    runs = wait_for(lambda: (r := read_runs(engine_settings, "weekday_mornings")) and len(r) == 2 and r, 20, "runs")
    # Friday, then Monday: the weekend is skipped; the end date stops it after Monday.
    assert [r.execution_date for r in runs] == [
        datetime(2024, 1, 5, 6, tzinfo=UTC),
        datetime(2024, 1, 8, 6, tzinfo=UTC),
    ]
    assert runs[1].data_interval_end == datetime(2024, 1, 9, 6, tzinfo=UTC)
    assert runs[0].run_id == "scheduled__2024-01-05T06:00:00+00:00"


def test_an_unregistered_timetable_is_an_import_error(engine_settings, plugins_folder):
    path = write_dag(engine_settings, "unregistered", UNREGISTERED)
    errors = process_all(engine_settings).import_errors
    assert errors[str(path)].endswith(
        "is not registered or you have a top level database access that disrupted the session. "
        "Please check the airflow best practices documentation."
    )
    assert "Timetable class '" in errors[str(path)] and ".Mine'" in errors[str(path)]
