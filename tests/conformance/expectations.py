"""What Airflow 2.10.5 did with its example DAGs (airflow_2_10_5_expected.json), and which outcome
applies to a run made now.

A few examples branch on the clock. For those the JSON holds every outcome measured in Airflow
under `cases`, and `depends_on` names what picks the case: the run's logical date (known exactly),
or the wall clock when the branching task ran (somewhere between the trigger and the run's end,
so every case the clock passed through in that window is accepted).

example_sensors also depends on the hour it is parsed in (see `_late_evening_outcomes`): that rule is
read from Airflow 2.10.5's time sensors, not measured.

A few runs outlast any reasonable test (example_sensors waits an hour for a deferred
TimeSensorAsync, example_external_task_marker_child ten minutes for an ExternalTaskSensor's
timeout). Their entry has `waits`: how long Airflow's run took and which tasks were still waiting
meanwhile (and in which states). `Outcome.while_waiting()` is the outcome Airflow showed during
that wait: run `running`, the waiting tasks in one of their listed states, every other task as it
ended.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXPECTED_FILE = Path(__file__).with_name("airflow_2_10_5_expected.json")


def load_expected() -> dict[str, dict[str, Any]]:
    return json.loads(EXPECTED_FILE.read_text())


@dataclass(frozen=True)
class Outcome:
    run_state: str | None
    task_states: dict[str, str | None]
    waits: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"run_state": self.run_state, "task_states": self.task_states}

    def while_waiting(self) -> dict[str, Any]:
        """The run's state and each task's allowed states while Airflow's run was still waiting."""
        assert self.waits is not None, "this example's run does not wait"
        allowed = {task: [state] for task, state in self.task_states.items()}
        allowed.update(self.waits["still_waiting"])
        return {"run_state": self.waits["run_state"], "task_states": allowed}

    def matches_while_waiting(self, actual: dict[str, Any]) -> bool:
        if self.waits is None:  # this outcome ends without waiting
            return False
        waiting = self.while_waiting()
        if actual["run_state"] != waiting["run_state"] or set(actual["task_states"]) != set(waiting["task_states"]):
            return False
        return all(state in waiting["task_states"][task] for task, state in actual["task_states"].items())


def _weekday_case(moment: datetime) -> str:
    """BranchDayOfWeekOperator with week_day=Monday, then {Saturday, Sunday}, on UTC now."""
    if moment.weekday() == 0:
        return "monday"
    return "weekend" if moment.weekday() >= 5 else "midweek"


def _evening_case(moment: datetime) -> str:
    """BranchDateTimeOperator from time(15, 0) to time(0, 0): the upper bound moves to the next day."""
    return "from_15_to_midnight" if moment.hour >= 15 else "before_15"


def _monday_sensor_case(moment: datetime) -> str:
    """DayOfWeekSensor(week_day=MONDAY) pokes with UTC now: done on a Monday, else it times out."""
    return "monday" if moment.weekday() == 0 else "other_day"


def _minute_parity_case(moment: datetime) -> str:
    return "even_minute" if moment.minute % 2 == 0 else "odd_minute"


# depends_on -> (which instant decides, the case for that instant)
CASE_RULES: dict[str, tuple[str, Callable[[datetime], str]]] = {
    "utc_weekday_when_the_branch_runs": ("wall_clock", _weekday_case),
    "utc_time_of_day_when_the_branch_runs": ("wall_clock", _evening_case),
    "logical_date_minute_parity": ("logical_date", _minute_parity_case),
    "utc_weekday_when_the_day_of_week_sensor_pokes": ("wall_clock", _monday_sensor_case),
}


def _in_utc(moment: datetime) -> datetime:
    """The operators compare UTC clocks (the examples' DAGs are in UTC); a naive time is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _instants(start: datetime, end: datetime) -> list[datetime]:
    """Every minute from start to end, and end itself: enough to see each case the window crosses."""
    moments, moment = [], start
    while moment < end:
        moments.append(moment)
        moment += timedelta(minutes=1)
    return [*moments, end]


# example_sensors aims TimeSensor and TimeSensorAsync at the time of day one hour after the task's
# process parsed the file, the date dropped. Parsed in the last UTC hour of a day, that time of day is
# early morning: TimeSensor compares times of day, so its first poke succeeds (rather than timing out
# and soft-failing to skipped), and TimeSensorAsync aims at that time today, already past, so its
# trigger fires at once and the run ends in seconds rather than an hour. Either task may be parsed on
# either side of 23:00 when the run's window crosses it.
# file -> its TimeSensor (poke mode); its TimeSensorAsync is what the run's `waits` waits for.
LATE_EVENING_POKE_SENSOR = {"example_sensors.py": "timeout_after_second_date_in_the_future"}


def _late_evening_outcomes(expected: dict[str, Any], outcomes: list[Outcome], moments: list[datetime]):
    """`outcomes`, widened by what a parse in the last hour of a UTC day changes (see above)."""
    poke_sensor = LATE_EVENING_POKE_SENSOR.get(expected["file"])
    late = {moment.hour == 23 for moment in moments}
    if poke_sensor is None or late == {False}:
        return outcomes
    widened: list[Outcome] = []
    for outcome in outcomes:
        for poke_late in sorted(late):
            for deferred_late in sorted(late):
                states = dict(outcome.task_states)
                if poke_late:
                    states[poke_sensor] = "success"
                variant = Outcome(outcome.run_state, states, None if deferred_late else outcome.waits)
                if variant not in widened:
                    widened.append(variant)
    return widened


def allowed_outcomes(
    expected: dict[str, Any], *, logical_date: datetime, triggered_at: datetime, finished_at: datetime
) -> list[Outcome]:
    """The outcomes Airflow 2.10.5 would have had for this run (one, unless the clock crossed a boundary)."""
    rule, waits = expected.get("depends_on"), expected.get("waits")
    logical_date, triggered_at, finished_at = (_in_utc(moment) for moment in (logical_date, triggered_at, finished_at))
    window = _instants(triggered_at, finished_at)
    if rule is None:
        return _late_evening_outcomes(
            expected, [Outcome(expected["run_state"], expected["task_states"], waits)], window
        )
    source, case_of = CASE_RULES[rule]
    moments = [logical_date] if source == "logical_date" else window
    cases = dict.fromkeys(case_of(moment) for moment in moments)
    outcomes = [
        Outcome(expected["cases"][case]["run_state"], expected["cases"][case]["task_states"], waits) for case in cases
    ]
    return _late_evening_outcomes(expected, outcomes, window)
