"""Data intervals from a serialized schedule, as Airflow 2.10's timetables compute them
(task-model-semantics §15, engine-semantics §6).

Serialized forms (slipstream/sdk/schedule.py writes them):
    {"type": "cron", "cron", "timezone"?}                      CronDataIntervalTimetable
    {"type": "cron_trigger", "cron", "timezone"?, "interval"}  CronTriggerTimetable (interval: seconds or
                                                                a relativedelta's fields)
    {"type": "delta", "seconds"} | {"type": "delta", "relativedelta": {...}}  DeltaDataIntervalTimetable
    {"type": "once"}, {"type": "none"}, {"type": "dataset", ...}, {"type": "custom", ...}
    {"type": "dataset_or_time", "timetable": <one of the timed forms>, ...}

Crons run on the wall clock of their time zone (the DAG's start_date zone unless given): a daily cron
keeps its local time across DST, a time in the spring gap moves forward, an ambiguous one means its
second occurrence, and a cron that fires every hour steps by elapsed time so it stays evenly spaced.
Delta schedules add their delta in UTC.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil.relativedelta import relativedelta


@functools.lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    """A serialized zone name: an IANA name, "UTC", or a fixed offset such as "+02:00"."""
    if not name or name in ("UTC", "Etc/UTC", "utc", "Z"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return ZoneInfo(name)


def _localize(naive: datetime, tz: tzinfo) -> datetime:
    """A wall time in `tz` as a UTC instant: an ambiguous time is its second occurrence, a time in
    the spring gap moves forward by the gap."""
    aware = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if aware.astimezone(tz).replace(tzinfo=None) != naive:  # in the gap
        aware = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return aware


@functools.lru_cache(maxsize=1024)
def _every_hour(expr: str) -> bool:
    """Crons firing at least once an hour step by elapsed time across DST (Airflow's fold-hour rule)."""
    return croniter(expr).expanded[1] == ["*"]


def _on_tick(expr: str, naive: datetime) -> bool:
    return naive.second == 0 and naive.microsecond == 0 and croniter.match(expr, naive)


# croniter cannot step around datetime.min (`start_date=datetime.min` is in Airflow's examples): a cron
# schedule looks for ticks from 1970 on.
_CRON_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)


def _cron_prev(expr: str, moment: datetime, *, inclusive: bool, tz: tzinfo = UTC) -> datetime:
    """The latest tick at or before (inclusive) / strictly before `moment`, as a UTC instant."""
    moment = moment.astimezone(UTC)
    if tz is UTC:
        if inclusive and _on_tick(expr, moment):
            return moment
        return croniter(expr, moment).get_prev(datetime).astimezone(UTC)
    naive = moment.astimezone(tz).replace(tzinfo=None)
    if inclusive and _on_tick(expr, naive):
        return moment
    scheduled = croniter(expr, naive).get_prev(datetime)
    if _every_hour(expr) and naive - scheduled < timedelta(days=1):
        return moment - (naive - scheduled)
    return _localize(scheduled, tz)


def _cron_next(expr: str, moment: datetime, *, inclusive: bool, tz: tzinfo = UTC) -> datetime:
    moment = moment.astimezone(UTC)
    if tz is UTC:
        if inclusive and _on_tick(expr, moment):
            return moment
        return croniter(expr, moment).get_next(datetime).astimezone(UTC)
    naive = moment.astimezone(tz).replace(tzinfo=None)
    if inclusive and _on_tick(expr, naive):
        return moment
    scheduled = croniter(expr, naive).get_next(datetime)
    if _every_hour(expr) and scheduled - naive < timedelta(days=1):
        return moment + (scheduled - naive)
    return _localize(scheduled, tz)


# Plain five-field crons (digits, *, /, ",", -): their ticks fall on whole minutes, so "the latest tick
# at or before t" is the same for every t from one tick up to the next. Names, L, W, #, H and R stay
# uncached (R is random per expansion).
_PLAIN_CRON = re.compile(r"^\s*[\d*/,-]+(\s+[\d*/,-]+){4}\s*$")
# (expression, zone) -> (start, end, next tick) of the manual data interval last computed for it.
_manual_spans: dict[tuple[str, str | None], tuple[datetime, datetime, datetime]] = {}
_MAX_MANUAL_SPANS = 1024


def _manual_cron_interval(expr: str, run_after: datetime, zone_name: str | None) -> tuple[datetime, datetime]:
    """infer_manual_data_interval for a cron. Its croniters (each parses the expression anew) were a
    fifth of a trigger's CPU; triggers mostly come within one interval, so a plain cron's last
    [end, next tick) span answers them without building any."""
    key = (expr, zone_name)
    span = _manual_spans.get(key)
    if span is not None and span[1] <= run_after < span[2]:
        return span[0], span[1]
    tz = zone(zone_name)
    end = _cron_prev(expr, run_after, inclusive=True, tz=tz)
    start = _cron_prev(expr, end, inclusive=False, tz=tz)
    if _PLAIN_CRON.match(expr):
        try:
            following = _cron_next(expr, end, inclusive=False, tz=tz)
        except (OverflowError, ValueError):  # no tick before year 10000: leave it uncached
            return start, end
        if len(_manual_spans) >= _MAX_MANUAL_SPANS:
            _manual_spans.clear()
        _manual_spans[key] = (start, end, following)
    return start, end


def _delta(schedule: dict[str, Any]) -> timedelta | relativedelta:
    fields = schedule.get("relativedelta")
    if fields is not None:
        return relativedelta(**fields)
    return timedelta(seconds=schedule["seconds"])


def _trigger_interval(schedule: dict[str, Any]) -> timedelta | relativedelta:
    interval = schedule.get("interval") or 0
    return relativedelta(**interval) if isinstance(interval, dict) else timedelta(seconds=interval)


def timed_part(schedule: dict[str, Any]) -> dict[str, Any]:
    """The time-based schedule inside a DatasetOrTimeSchedule (the schedule itself otherwise)."""
    if schedule.get("type") == "dataset_or_time":
        return schedule.get("timetable") or {"type": "none"}
    return schedule


def infer_manual_data_interval(schedule: dict[str, Any], run_after: datetime) -> tuple[datetime, datetime]:
    """The data interval of a manually triggered run at `run_after`.

    cron: the last complete interval ending at or before the trigger time; delta: [t - delta, t];
    cron_trigger: [t - interval, t]; none, @once and datasets: [t, t].
    """
    schedule = timed_part(schedule)
    kind = schedule.get("type")
    if kind == "cron":
        return _manual_cron_interval(schedule["cron"], run_after, schedule.get("timezone"))
    if kind == "delta":
        return (run_after - _delta(schedule)).astimezone(UTC), run_after
    if kind == "cron_trigger":
        return (run_after - _trigger_interval(schedule)).astimezone(UTC), run_after
    if kind == "custom":
        from slipstream.plugins import custom_manual_data_interval

        return custom_manual_data_interval(schedule, run_after)
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
        return _cron_next(schedule["cron"], moment, inclusive=True, tz=zone(schedule.get("timezone")))
    return moment


def _aligned_prev(schedule: dict[str, Any], moment: datetime) -> datetime:
    if schedule["type"] == "cron":
        return _cron_prev(schedule["cron"], moment, inclusive=True, tz=zone(schedule.get("timezone")))
    return moment


def _interval_end(schedule: dict[str, Any], start: datetime) -> datetime:
    if schedule["type"] == "cron":
        return _cron_next(schedule["cron"], start, inclusive=False, tz=zone(schedule.get("timezone")))
    return (start + _delta(schedule)).astimezone(UTC)


def _latest_complete_start(schedule: dict[str, Any], now: datetime) -> datetime:
    """Where catchup=False starts: the start of the latest interval that is complete at `now`."""
    if schedule["type"] == "cron":
        tz = zone(schedule.get("timezone"))
        last_tick = _cron_prev(schedule["cron"], now, inclusive=True, tz=tz)
        return _cron_prev(schedule["cron"], last_tick, inclusive=False, tz=tz)
    delta = _delta(schedule)
    if isinstance(delta, relativedelta):
        # Airflow rounds with a relativedelta's rough length in seconds (a month is 30 days).
        seconds = (
            delta.years * 365 * 86400
            + delta.months * 30 * 86400
            + delta.days * 86400
            + delta.hours * 3600
            + delta.minutes * 60
            + delta.seconds
        )
    else:
        seconds = delta.total_seconds()
    stamp = now.timestamp()
    rounded = datetime.fromtimestamp(stamp - (stamp % seconds), tz=UTC)
    return (rounded - delta).astimezone(UTC)


def _next_trigger_info(
    schedule: dict[str, Any],
    *,
    earliest: datetime | None,
    latest: datetime | None,
    catchup: bool,
    last_automated: tuple[datetime, datetime] | None,
    now: datetime,
) -> DagRunInfo | None:
    """CronTriggerTimetable: a run at each tick, over [tick - interval, tick]."""
    expr, tz = schedule["cron"], zone(schedule.get("timezone"))
    if catchup:
        if last_automated is not None:
            tick = _cron_next(expr, last_automated[1], inclusive=False, tz=tz)
        elif earliest is None:
            return None
        else:
            tick = _cron_next(expr, earliest, inclusive=True, tz=tz)
    else:
        candidates = [_cron_prev(expr, now, inclusive=True, tz=tz)]
        if last_automated is not None:
            candidates.append(_cron_next(expr, last_automated[1], inclusive=False, tz=tz))
        if earliest is not None:
            candidates.append(_cron_next(expr, earliest, inclusive=True, tz=tz))
        tick = max(candidates)
    if latest is not None and latest < tick:
        return None
    start = (tick - _trigger_interval(schedule)).astimezone(UTC)
    return DagRunInfo(start, start, tick, tick)


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
    schedule = timed_part(schedule)
    kind = schedule.get("type")
    if earliest is not None and kind in ("cron", "cron_trigger"):
        earliest = max(earliest, _CRON_FLOOR)
    if kind == "cron_trigger":
        return _next_trigger_info(
            schedule, earliest=earliest, latest=latest, catchup=catchup, last_automated=last_automated, now=now
        )
    if kind == "custom":
        from slipstream.plugins import custom_next_dagrun_info

        return custom_next_dagrun_info(
            schedule, earliest=earliest, latest=latest, catchup=catchup, last_automated=last_automated
        )
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


# -- descriptions (Airflow's Timetable.description, shown as the stable API's timetable_description) --

_FIXED_DESCRIPTIONS = {
    "none": "Never, external triggers only",
    "once": "Once, as soon as possible",
    "dataset": "Triggered by datasets",
    "delta": "",
}


@functools.lru_cache(maxsize=1024)
def cron_description(expression: str) -> str:
    """A cron in words, as Airflow's cron timetables describe it ("At 00:00"); "" when it cannot say."""
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor

    try:
        if len(croniter(expression).expanded) > 5:  # seconds or years: Airflow does not describe those
            return ""
        descriptor = ExpressionDescriptor(
            expression=expression, casing_type=CasingTypeEnum.Sentence, use_24hour_time_format=True
        )
        return str(descriptor.get_description())
    except Exception:  # the library's own errors for forms it cannot read: no description, as in Airflow
        return ""


def timetable_description(schedule: dict[str, Any]) -> str:
    kind = schedule.get("type")
    if kind in ("cron", "cron_trigger"):
        return cron_description(str(schedule.get("cron") or schedule.get("expression") or ""))
    if kind == "dataset_or_time":
        return f"Triggered by datasets or {timetable_description(schedule.get('timetable') or {})}"
    if kind == "custom":
        return str(schedule.get("description") or "")
    return _FIXED_DESCRIPTIONS.get(str(kind), "")
