"""How the stable API renders what the dag processor stored: schedules, timetables, dataset conditions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from handlers.v1.dags import best_source_type
from slipstream.sdk.datasets import Dataset
from slipstream.sdk.schedule import normalize_schedule
from slipstream.sdk.timetables import CronTriggerTimetable, DatasetOrTimeSchedule
from slipstream.services.dag_views import dataset_expression, schedule_interval
from slipstream.timetables import timetable_description


def cron(value: str) -> dict:
    return {"__type": "CronExpression", "value": value}


@pytest.mark.parametrize(
    ("schedule", "shown", "described"),
    [
        ("0 0 * * *", cron("0 0 * * *"), "At 00:00"),
        ("@daily", cron("@daily"), "At 00:00"),
        ("0 1 * * 3", cron("0 1 * * 3"), "At 01:00, only on Wednesday"),
        ("@once", cron("@once"), "Once, as soon as possible"),
        (None, None, "Never, external triggers only"),
        (timedelta(hours=36), {"__type": "TimeDelta", "days": 1, "seconds": 43200, "microseconds": 0}, ""),
        ([Dataset("s3://a"), Dataset("s3://b")], cron("Dataset"), "Triggered by datasets"),
        (CronTriggerTimetable("@hourly", timezone="UTC"), cron("0 * * * *"), "Every hour"),
        (
            DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), datasets=[Dataset("x")]),
            cron("Dataset or 0 1 * * 3"),
            "Triggered by datasets or At 01:00, only on Wednesday",
        ),
    ],
)
def test_schedule_interval_and_description_as_airflow_shows_them(schedule, shown, described):
    serialized = normalize_schedule(schedule)
    assert schedule_interval(serialized) == shown
    assert timetable_description(serialized) == described


def test_a_relativedelta_shows_every_field():
    shown = schedule_interval(normalize_schedule(relativedelta(months=1, day=1)))
    assert shown["__type"] == "RelativeDelta"
    assert (shown["months"], shown["day"], shown["years"], shown["hour"]) == (1, 1, 0, None)
    assert len(shown) == 16  # __type, 8 relative and 7 absolute fields


def test_dataset_expressions():
    a, b = Dataset("s3://bucket/a"), Dataset("s3://bucket/b")
    assert dataset_expression(normalize_schedule([a, b])) == {"all": ["s3://bucket/a", "s3://bucket/b"]}
    assert dataset_expression(normalize_schedule(a | (a & b))) == {
        "any": ["s3://bucket/a", {"all": ["s3://bucket/a", "s3://bucket/b"]}]
    }
    assert dataset_expression(normalize_schedule(a)) == {"any": ["s3://bucket/a"]}
    assert dataset_expression(normalize_schedule("@daily")) is None


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, None),
        ("", None),
        ("*/*", "text/plain"),
        ("text/plain", "text/plain"),
        ("application/json", "application/json"),
        ("application/json, text/plain", "text/plain"),
        ("text/plain;q=0.2, application/json", "application/json"),
        ("application/*", "application/json"),
        ("*/*;q=0.1, application/json", "application/json"),
        ("text/html", None),
        ("text/plain;q=0", None),
        ("text/plain;q=abc", None),
    ],
)
def test_dag_source_content_negotiation_is_werkzeugs(accept, chosen):
    assert best_source_type(accept) == chosen
