"""Data intervals from a serialized schedule ({"type": "cron"|"delta"|"once"|"none", ...}), as Airflow computes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter


def _cron_prev(expr: str, moment: datetime, *, inclusive: bool) -> datetime:
    """The latest tick at or before (inclusive) / strictly before `moment`."""
    moment = moment.astimezone(UTC)
    if inclusive and moment.second == 0 and moment.microsecond == 0 and croniter.match(expr, moment):
        return moment
    return croniter(expr, moment).get_prev(datetime).astimezone(UTC)


def _cron_next(expr: str, moment: datetime, *, inclusive: bool) -> datetime:
    moment = moment.astimezone(UTC)
    if inclusive and moment.second == 0 and moment.microsecond == 0 and croniter.match(expr, moment):
        return moment
    return croniter(expr, moment).get_next(datetime).astimezone(UTC)


# Plain five-field crons (digits, *, /, ",", -): their ticks fall on whole minutes, so "the latest tick
# at or before t" is the same for every t from one tick up to the next. Names, L, W, #, H and R stay
# uncached (R is random per expansion).
_PLAIN_CRON = re.compile(r"^\s*[\d*/,-]+(\s+[\d*/,-]+){4}\s*$")
# expression -> (start, end, next tick) of the manual data interval last computed for it.
_manual_spans: dict[str, tuple[datetime, datetime, datetime]] = {}
_MAX_MANUAL_SPANS = 1024


def _manual_cron_interval(expr: str, run_after: datetime) -> tuple[datetime, datetime]:
    """infer_manual_data_interval for a cron. Its croniters (each parses the expression anew) were a
    fifth of a trigger's CPU; triggers mostly come within one interval, so a plain cron's last
    [end, next tick) span answers them without building any."""
    span = _manual_spans.get(expr)
    if span is not None and span[1] <= run_after < span[2]:
        return span[0], span[1]
    end = _cron_prev(expr, run_after, inclusive=True)
    start = _cron_prev(expr, end, inclusive=False)
    if _PLAIN_CRON.match(expr):
        try:
            following = _cron_next(expr, end, inclusive=False)
        except (OverflowError, ValueError):  # no tick before year 10000: leave it uncached
            return start, end
        if len(_manual_spans) >= _MAX_MANUAL_SPANS:
            _manual_spans.clear()
        _manual_spans[expr] = (start, end, following)
    return start, end


def infer_manual_data_interval(schedule: dict[str, Any], run_after: datetime) -> tuple[datetime, datetime]:
    """The data interval of a manually triggered run at `run_after`.

    cron: the last complete interval ending at or before the trigger time; delta: [t - delta, t];
    none and @once: [t, t].
    """
    kind = schedule.get("type")
    if kind == "cron":
        return _manual_cron_interval(schedule["cron"], run_after)
    if kind == "delta":
        return run_after - timedelta(seconds=schedule["seconds"]), run_after
    return run_after, run_after


@dataclass(frozen=True)
class DagRunInfo:
    """The next run a schedule wants: its logical date, data interval, and when it may be created."""

    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_after: datetime


def _aligned_next(schedule: dict[str, Any], moment: datetime) -> datetime:
    """The first interval boundary at or after `moment` (delta schedules have boundaries everywhere)."""
    if schedule["type"] == "cron":
        return _cron_next(schedule["cron"], moment, inclusive=True)
    return moment


def _aligned_prev(schedule: dict[str, Any], moment: datetime) -> datetime:
    if schedule["type"] == "cron":
        return _cron_prev(schedule["cron"], moment, inclusive=True)
    return moment


def _interval_end(schedule: dict[str, Any], start: datetime) -> datetime:
    if schedule["type"] == "cron":
        return _cron_next(schedule["cron"], start, inclusive=False)
    return start + timedelta(seconds=schedule["seconds"])


def _latest_complete_start(schedule: dict[str, Any], now: datetime) -> datetime:
    """Where catchup=False starts: the start of the latest interval that is complete at `now`."""
    if schedule["type"] == "cron":
        last_tick = _cron_prev(schedule["cron"], now, inclusive=True)
        return _cron_prev(schedule["cron"], last_tick, inclusive=False)
    seconds = schedule["seconds"]
    stamp = now.timestamp()
    rounded = datetime.fromtimestamp(stamp - (stamp % seconds), tz=UTC)
    return rounded - timedelta(seconds=seconds)


def next_dagrun_info(
    schedule: dict[str, Any],
    *,
    earliest: datetime | None,
    latest: datetime | None,
    catchup: bool,
    last_automated: tuple[datetime, datetime] | None,
    now: datetime,
) -> DagRunInfo | None:
    """The next scheduled run after the last automated one (engine-semantics §6), or None for no more runs.

    `earliest` is the earliest start date of the DAG and its tasks (no start date: nothing is scheduled),
    `latest` the DAG's end date; `last_automated` is the data interval of the latest scheduled run.
    Manual runs never move a schedule, so they are not passed here.
    """
    kind = schedule.get("type")
    if kind not in ("cron", "delta", "once") or earliest is None:
        return None
    if kind == "once":
        # @once runs at the start date, whatever catchup says, and only once.
        if last_automated is not None or (latest is not None and earliest > latest):
            return None
        return DagRunInfo(earliest, earliest, earliest, earliest)
    if catchup:
        earliest = _aligned_next(schedule, earliest)
    else:
        earliest = max(_latest_complete_start(schedule, now), _aligned_next(schedule, earliest))
    if last_automated is None:
        start = earliest
    else:
        start = max(_aligned_prev(schedule, last_automated[1]), earliest)
    if latest is not None and start > latest:
        return None
    end = _interval_end(schedule, start)
    return DagRunInfo(start, start, end, end)
