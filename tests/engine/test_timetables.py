"""Next scheduled run (engine-semantics §6): cron, delta, @once, catchup, start and end dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipstream.sdk.schedule import normalize_schedule
from slipstream.timetables import DagRunInfo, infer_manual_data_interval, next_dagrun_info


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


DAILY = normalize_schedule("@daily")
NOW = d(2024, 1, 4, 10)


def nxt(schedule, last=None, *, start=d(2024, 1, 1), end=None, catchup=True, now=NOW):
    return next_dagrun_info(schedule, earliest=start, latest=end, catchup=catchup, last_automated=last, now=now)


def catch_up(schedule, **kwargs):
    """Every run a scheduler would create by `now`."""
    runs, last = [], None
    while (info := nxt(schedule, last, **kwargs)) is not None and info.run_after <= kwargs.get("now", NOW):
        runs.append(info.logical_date)
        last = (info.data_interval_start, info.data_interval_end)
    return runs, info


def test_daily_with_catchup_creates_every_interval_then_waits():
    runs, following = catch_up(DAILY)
    assert runs == [d(2024, 1, 1), d(2024, 1, 2), d(2024, 1, 3)]
    assert following == DagRunInfo(d(2024, 1, 4), d(2024, 1, 4), d(2024, 1, 5), d(2024, 1, 5))


def test_daily_without_catchup_creates_only_the_latest_complete_interval():
    runs, following = catch_up(DAILY, catchup=False)
    assert runs == [d(2024, 1, 3)]
    assert following.logical_date == d(2024, 1, 4) and following.run_after == d(2024, 1, 5)


def test_start_date_off_the_cron_is_aligned_to_the_next_tick():
    info = nxt(DAILY, start=d(2024, 1, 1, 10))
    assert (info.data_interval_start, info.data_interval_end) == (d(2024, 1, 2), d(2024, 1, 3))


def test_end_date_stops_the_schedule():
    runs, following = catch_up(DAILY, end=d(2024, 1, 2))
    assert runs == [d(2024, 1, 1), d(2024, 1, 2)]
    assert following is None


def test_delta_schedule_starts_exactly_at_start_date():
    hourly = normalize_schedule(timedelta(hours=6))
    info = nxt(hourly, start=d(2024, 1, 4, 1, 30))
    assert info == DagRunInfo(d(2024, 1, 4, 1, 30), d(2024, 1, 4, 1, 30), d(2024, 1, 4, 7, 30), d(2024, 1, 4, 7, 30))
    # Without catchup: floor(now to a multiple of the delta since the epoch) minus one delta.
    late = nxt(hourly, start=d(2023, 1, 1), catchup=False)
    assert late.logical_date == d(2024, 1, 4, 0)


def test_once_runs_at_start_date_once():
    once = normalize_schedule("@once")
    info = nxt(once, catchup=False)
    assert info == DagRunInfo(d(2024, 1, 1), d(2024, 1, 1), d(2024, 1, 1), d(2024, 1, 1))
    assert nxt(once, (info.data_interval_start, info.data_interval_end)) is None


def test_no_schedule_or_no_start_date_schedules_nothing():
    assert nxt(normalize_schedule(None)) is None
    assert nxt(DAILY, start=None) is None


def test_manual_data_interval_for_cron_is_the_last_complete_interval():
    assert infer_manual_data_interval(DAILY, d(2024, 1, 4, 10)) == (d(2024, 1, 3), d(2024, 1, 4))
