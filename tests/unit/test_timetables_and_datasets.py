"""Timetable classes, zoned crons and dataset schedules as DAG files write them (task-model §13, §15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from dateutil.relativedelta import relativedelta

from slipstream.sdk import DAG
from slipstream.sdk.datasets import Dataset, condition_met
from slipstream.sdk.exceptions import AirflowTimetableInvalid
from slipstream.sdk.schedule import normalize_schedule, schedule_in_zone
from slipstream.sdk.timetables import (
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DatasetOrTimeSchedule,
    DatasetTriggeredTimetable,
    DeltaDataIntervalTimetable,
)
from slipstream.timetables import infer_manual_data_interval, next_dagrun_info

BERLIN = "Europe/Berlin"
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def _runs(schedule, start, count, catchup=True):
    runs, last = [], None
    for _ in range(count):
        info = next_dagrun_info(schedule, earliest=start, latest=None, catchup=catchup, last_automated=last, now=FAR)
        runs.append(info)
        last = (info.data_interval_start, info.data_interval_end)
    return runs


def test_daily_data_interval_and_trigger_differ_in_when_a_run_is_created():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    [interval] = _runs(CronDataIntervalTimetable("@daily", "UTC").schedule(), start, 1)
    [trigger] = _runs(CronTriggerTimetable("@daily", timezone="UTC").schedule(), start, 1)
    assert (interval.logical_date, interval.run_after) == (start, start + timedelta(days=1))
    assert (trigger.logical_date, trigger.run_after) == (start, start)


def test_a_zoned_daily_cron_keeps_wall_time_across_spring_dst():
    schedule = {"type": "cron", "cron": "0 2 * * *", "timezone": BERLIN}
    runs = _runs(schedule, datetime(2024, 3, 30, tzinfo=UTC), 3)
    assert [r.logical_date.hour for r in runs] == [1, 1, 0]  # 03-31 02:00 is in the gap: 03:00 CEST = 01:00Z
    gap = _runs({"type": "cron", "cron": "30 2 * * *", "timezone": BERLIN}, datetime(2024, 3, 31, tzinfo=UTC), 1)[0]
    assert gap.logical_date.astimezone(pendulum.timezone(BERLIN)).strftime("%H:%M") == "03:30"


def test_an_hourly_zoned_cron_has_25_runs_on_the_autumn_change_day():
    zone = pendulum.timezone(BERLIN)
    hourly = {"type": "cron", "cron": "0 * * * *", "timezone": BERLIN}
    runs = _runs(hourly, pendulum.datetime(2024, 10, 27, tz=BERLIN), 30)
    on_day = [r for r in runs if r.logical_date.astimezone(zone).date().isoformat() == "2024-10-27"]
    assert len(on_day) == 25
    assert all(b.logical_date - a.logical_date == timedelta(hours=1) for a, b in zip(runs, runs[1:], strict=False))


def test_delta_schedules_add_in_utc_and_relativedelta_by_calendar():
    runs = _runs(normalize_schedule(relativedelta(months=1)), datetime(2024, 1, 31, tzinfo=UTC), 2)
    assert runs[1].logical_date == datetime(2024, 2, 29, tzinfo=UTC)
    start, end = infer_manual_data_interval(normalize_schedule(timedelta(hours=6)), FAR)
    assert (start, end) == (FAR - timedelta(hours=6), FAR)


def test_the_dag_zone_comes_from_its_start_date():
    with DAG("zoned", schedule="0 2 * * *", start_date=pendulum.datetime(2024, 1, 1, tz=BERLIN)) as dag:
        pass
    assert schedule_in_zone(dag.schedule, dag.start_date)["timezone"] == BERLIN
    assert "timezone" not in schedule_in_zone(normalize_schedule("@daily"), datetime(2024, 1, 1, tzinfo=UTC))


def test_bad_schedules_say_what_is_wrong():
    with pytest.raises(ValueError, match="schedule interval must be positive, not datetime.timedelta"):
        normalize_schedule(timedelta(0))
    with pytest.raises(AirflowTimetableInvalid):
        DeltaDataIntervalTimetable(timedelta(seconds=-1))
    with pytest.raises(AirflowTimetableInvalid, match="^cannot nest dataset timetables$"):
        DatasetOrTimeSchedule(timetable=DatasetTriggeredTimetable([Dataset("a")]), datasets=[Dataset("b")])
    with pytest.raises(ValueError, match="^All elements in 'schedule' should be datasets or dataset aliases$"):
        normalize_schedule([Dataset("a"), "b"])


def test_dataset_conditions():
    a, b, c = Dataset("s3://x/a"), Dataset("s3://x/b"), Dataset("s3://x/c")
    condition = normalize_schedule(a | (b & c))["condition"]
    assert condition_met(condition, {"s3://x/a"})
    assert not condition_met(condition, {"s3://x/b"})
    assert condition_met(condition, {"s3://x/b", "s3://x/c"})
    both = normalize_schedule([a, b])["condition"]
    assert not condition_met(both, {"s3://x/a"}) and condition_met(both, {"s3://x/a", "s3://x/b"})


def test_dataset_or_time_keeps_both_parts():
    schedule = normalize_schedule(
        DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), datasets=[Dataset("a")])
    )
    assert schedule["type"] == "dataset_or_time" and schedule["condition"] == {"all": [{"uri": "a"}]}
    [info] = _runs(schedule, datetime(2024, 1, 1, tzinfo=UTC), 1)
    assert info.logical_date == datetime(2024, 1, 3, 1, tzinfo=UTC)


def test_dataset_uri_normalisation():
    assert Dataset("S3://B/k/?b=2&a=1#f").uri == "s3://B/k?a=1&b=2"


def test_a_start_date_of_datetime_min_schedules_without_overflow():
    start = datetime.min.replace(tzinfo=UTC)  # as Airflow's example_outlet_event_extra writes it
    info = next_dagrun_info(
        {"type": "cron", "cron": "0 0 * * *"}, earliest=start, latest=None, catchup=False, last_automated=None, now=FAR
    )
    assert info.logical_date == FAR - timedelta(days=1)


def test_a_schedule_of_aliases_alone_is_unresolved():
    from slipstream.sdk.datasets import DatasetAlias

    assert normalize_schedule([DatasetAlias("a")])["expression"] == "Unresolved DatasetAlias"
    assert normalize_schedule([Dataset("a")])["expression"] == "Dataset"
