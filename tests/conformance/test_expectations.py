"""Which of Airflow's measured outcomes applies to a run of a clock-dependent example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conformance.expectations import allowed_outcomes, load_expected

EXPECTED = load_expected()


def outcomes(dag_id: str, start: datetime, end: datetime | None = None) -> list[dict]:
    found = allowed_outcomes(EXPECTED[dag_id], logical_date=start, triggered_at=start, finished_at=end or start)
    return [outcome.as_dict() for outcome in found]


def case(dag_id: str, name: str) -> dict:
    measured = EXPECTED[dag_id]["cases"][name]
    return {"run_state": measured["run_state"], "task_states": measured["task_states"]}


def test_a_date_independent_example_has_the_one_measured_outcome():
    start = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert outcomes("example_xcom", start) == [
        {"run_state": "success", "task_states": EXPECTED["example_xcom"]["task_states"]}
    ]


def test_the_weekday_branch_follows_the_utc_day_the_run_runs_on():
    monday, saturday, wednesday = (datetime(2026, 12, day, 12, tzinfo=UTC) for day in (7, 12, 9))
    dag_id = "example_weekday_branch_operator"
    assert outcomes(dag_id, monday) == [case(dag_id, "monday")]
    assert outcomes(dag_id, saturday) == [case(dag_id, "weekend")]
    assert outcomes(dag_id, wednesday) == [case(dag_id, "midweek")]
    assert case(dag_id, "monday")["task_states"]["branch_true"] == "success"
    assert case(dag_id, "weekend")["task_states"]["branch_weekend"] == "success"


def test_a_run_crossing_midnight_into_monday_accepts_both_days():
    sunday_night = datetime(2026, 12, 6, 23, 59, 40, tzinfo=UTC)
    dag_id = "example_weekday_branch_operator"
    assert outcomes(dag_id, sunday_night, sunday_night + timedelta(seconds=40)) == [
        case(dag_id, "weekend"),
        case(dag_id, "monday"),
    ]


def test_the_evening_window_opens_at_15_utc():
    dag_id = "example_branch_datetime_operator_2"
    assert outcomes(dag_id, datetime(2026, 12, 4, 14, 59, 59, tzinfo=UTC)) == [case(dag_id, "before_15")]
    assert outcomes(dag_id, datetime(2026, 12, 4, 15, 0, 0, tzinfo=UTC)) == [case(dag_id, "from_15_to_midnight")]
    assert outcomes(dag_id, datetime(2026, 12, 4, 23, 59, tzinfo=UTC)) == [case(dag_id, "from_15_to_midnight")]


def test_the_minute_parity_branch_reads_the_logical_date_not_the_clock():
    dag_id = "example_branch_dop_operator_v3"
    odd = datetime(2026, 12, 4, 10, 31, 59, tzinfo=UTC)
    # The run ends minutes later; only the logical date counts.
    found = allowed_outcomes(
        EXPECTED[dag_id], logical_date=odd, triggered_at=odd, finished_at=odd + timedelta(minutes=3)
    )
    assert [outcome.as_dict() for outcome in found] == [case(dag_id, "odd_minute")]
    assert case(dag_id, "odd_minute")["task_states"]["empty_task_2"] == "success"


def test_the_monday_sensor_follows_the_utc_day_it_pokes_on():
    dag_id = "example_sensors"
    monday, friday = datetime(2026, 12, 7, 10, tzinfo=UTC), datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert outcomes(dag_id, monday) == [case(dag_id, "monday")]
    assert outcomes(dag_id, friday) == [case(dag_id, "other_day")]
    assert case(dag_id, "monday")["task_states"]["week_day_sensor_failing_on_timeout"] == "success"
    assert case(dag_id, "other_day")["task_states"]["week_day_sensor_failing_on_timeout"] == "skipped"


def test_a_waiting_run_matches_only_the_states_airflow_waited_in():
    [outcome] = allowed_outcomes(
        EXPECTED["example_external_task_marker_child"],
        logical_date=datetime(2026, 12, 4, 10, tzinfo=UTC),
        triggered_at=datetime(2026, 12, 4, 10, tzinfo=UTC),
        finished_at=datetime(2026, 12, 4, 10, 2, tzinfo=UTC),
    )
    waiting = {"child_task1": "success", "child_task2": "up_for_reschedule", "child_task3": None}

    def running(**states):
        return {"run_state": "running", "task_states": {**waiting, **states}}

    assert outcome.matches_while_waiting(running())
    assert outcome.matches_while_waiting(running(child_task2="queued"))
    # The sensor may not have given up, its downstream may not have run, and the run is not over.
    assert not outcome.matches_while_waiting(running(child_task2="failed"))
    assert not outcome.matches_while_waiting(running(child_task3="success"))
    assert not outcome.matches_while_waiting({"run_state": "failed", "task_states": waiting})
    assert not outcome.matches_while_waiting({"run_state": "running", "task_states": {"child_task1": "success"}})
    assert outcome.as_dict()["run_state"] == "failed"


def test_every_expectation_names_its_file_and_trigger():
    assert len(EXPECTED) == 28 + 35
    for dag_id, entry in EXPECTED.items():
        assert entry["file"].endswith(".py"), dag_id
        assert entry["trigger"] in ("ok", "400"), dag_id
        assert entry["notes"], dag_id


def test_example_sensors_parsed_in_the_last_utc_hour_ends_at_once_with_its_time_sensor_done():
    # At 23:12 the time sensors aim at 00:12: TimeSensor's first poke is past it, TimeSensorAsync's
    # target (today 00:12) is gone, so nothing waits an hour.
    friday_late = datetime(2026, 12, 4, 23, 12, 45, tzinfo=UTC)
    found = allowed_outcomes(
        EXPECTED["example_sensors"],
        logical_date=friday_late,
        triggered_at=friday_late,
        finished_at=friday_late + timedelta(seconds=66),
    )
    other_day = case("example_sensors", "other_day")
    time_sensor_done = {**other_day["task_states"], "timeout_after_second_date_in_the_future": "success"}
    assert [outcome.as_dict() for outcome in found] == [{**other_day, "task_states": time_sensor_done}]
    assert [outcome.waits for outcome in found] == [None]


def test_example_sensors_across_23_utc_accepts_either_side_for_each_time_sensor():
    before = datetime(2026, 12, 4, 22, 59, 30, tzinfo=UTC)
    found = allowed_outcomes(
        EXPECTED["example_sensors"], logical_date=before, triggered_at=before, finished_at=before + timedelta(minutes=2)
    )
    poke = {(o.task_states["timeout_after_second_date_in_the_future"], o.waits is None) for o in found}
    assert poke == {("skipped", False), ("skipped", True), ("success", False), ("success", True)}
    # Both sensors parsed before 23:00: what Airflow measured.
    as_measured = next(
        o for o in found if o.waits and o.task_states["timeout_after_second_date_in_the_future"] == "skipped"
    )
    assert as_measured.as_dict() == case("example_sensors", "other_day")


def test_example_sensors_earlier_in_the_day_waits_as_measured():
    found = allowed_outcomes(
        EXPECTED["example_sensors"],
        logical_date=datetime(2026, 12, 4, 13, 53, 57, tzinfo=UTC),
        triggered_at=datetime(2026, 12, 4, 13, 53, 57, tzinfo=UTC),
        finished_at=datetime(2026, 12, 4, 13, 56, tzinfo=UTC),
    )
    assert [outcome.as_dict() for outcome in found] == [case("example_sensors", "other_day")]
    assert found[0].waits is not None and not found[0].matches_while_waiting(found[0].as_dict())
