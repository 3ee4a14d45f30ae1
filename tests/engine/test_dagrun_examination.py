"""One examination pass over a run (pure): flags, scheduling, EmptyOperator, run outcome, timeout, deadlock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipstream.scheduler.dag_specs import DagSpec
from slipstream.scheduler.dagrun import TiRow, examine_run
from slipstream.sdk import DAG, BashOperator, EmptyOperator
from slipstream.sdk.serialization import dag_hash, serialize_dag

NOW = datetime(2024, 1, 2, tzinfo=UTC)


def spec_of(dag: DAG) -> DagSpec:
    data = serialize_dag(dag)
    return DagSpec.from_serialized(data, dag_hash(data))


def rows(**states) -> list[TiRow]:
    return [
        TiRow(i, task_id, state, 1 if state else 0, None, None) for i, (task_id, state) in enumerate(states.items())
    ]


def changes(exam) -> dict[str, str | None]:
    return {c.task_id: c.new for c in exam.changes}


def chain_dag(**dag_args) -> DAG:
    with DAG("chain", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), **dag_args) as dag:
        a = BashOperator(task_id="a", bash_command="true")
        b = BashOperator(task_id="b", bash_command="true")
        c = BashOperator(task_id="c", bash_command="true")
        a >> b >> c
    return dag


def test_roots_are_scheduled_with_a_new_try():
    exam = examine_run(spec_of(chain_dag()), rows(a=None, b=None, c=None), run_start=NOW, now=NOW)
    assert changes(exam) == {"a": "scheduled"}
    assert exam.changes[0].values == {"try_number": 1}
    assert exam.run_state is None


def test_a_skip_runs_down_the_whole_chain_in_one_pass():
    exam = examine_run(spec_of(chain_dag()), rows(a="skipped", b=None, c=None), run_start=NOW, now=NOW)
    assert changes(exam) == {"b": "skipped", "c": "skipped"}
    assert all(c.values == {"start_date": NOW, "end_date": NOW, "duration": 0.0} for c in exam.changes)
    assert exam.run_state == "success"


def test_a_failure_makes_downstream_upstream_failed_and_fails_the_run():
    exam = examine_run(spec_of(chain_dag()), rows(a="failed", b=None, c=None), run_start=NOW, now=NOW)
    assert changes(exam) == {"b": "upstream_failed", "c": "upstream_failed"}
    assert exam.run_state == "failed"


def test_retry_waits_for_its_time():
    spec = spec_of(chain_dag())
    waiting = [TiRow(1, "a", "up_for_retry", 1, NOW + timedelta(seconds=5), None)]
    assert examine_run(spec, waiting, run_start=NOW, now=NOW).changes == []
    due = examine_run(spec, waiting, run_start=NOW, now=NOW + timedelta(seconds=5))
    assert changes(due) == {"a": "scheduled"} and due.changes[0].values == {"try_number": 2}


def test_empty_operator_succeeds_without_running():
    with DAG("e", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        BashOperator(task_id="a", bash_command="true") >> EmptyOperator(task_id="join")
    exam = examine_run(spec_of(dag), rows(a="success", join=None), run_start=NOW, now=NOW)
    assert changes(exam) == {"join": "success"}
    assert exam.changes[0].values == {"start_date": NOW, "end_date": NOW, "duration": 0.0, "try_number": 1}
    assert exam.run_state == "success"


def test_failed_non_leaf_does_not_fail_the_run_when_leaves_succeed():
    with DAG("cleanup", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        BashOperator(task_id="work", bash_command="false") >> BashOperator(
            task_id="cleanup", bash_command="true", trigger_rule="all_done"
        )
    exam = examine_run(spec_of(dag), rows(work="failed", cleanup="success"), run_start=NOW, now=NOW)
    assert exam.run_state == "success"


def test_dagrun_timeout_skips_every_unfinished_instance_and_fails_the_run():
    spec = spec_of(chain_dag(dagrun_timeout=timedelta(seconds=10)))
    tis = rows(a="running", b=None, c=None)
    assert examine_run(spec, tis, run_start=NOW, now=NOW + timedelta(seconds=5)).run_state is None
    exam = examine_run(spec, tis, run_start=NOW, now=NOW + timedelta(seconds=11))
    assert changes(exam) == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert (exam.run_state, exam.reason) == ("failed", "timed_out")


def test_deadlock_fails_the_run_but_work_in_flight_is_not_a_deadlock():
    spec = spec_of(chain_dag())
    stuck = examine_run(spec, rows(a="removed", b=None, c=None), run_start=NOW, now=NOW)
    assert (stuck.run_state, stuck.reason) == ("failed", "all_tasks_deadlocked")
    busy = examine_run(spec, rows(a="running", b=None, c=None), run_start=NOW, now=NOW)
    assert busy.run_state is None


def test_paused_runs_get_flags_but_nothing_scheduled():
    exam = examine_run(
        spec_of(chain_dag()), rows(a="failed", b=None, c=None), run_start=NOW, now=NOW, may_schedule=False
    )
    assert changes(exam) == {"b": "upstream_failed", "c": "upstream_failed"}
    idle = examine_run(spec_of(chain_dag()), rows(a=None, b=None, c=None), run_start=NOW, now=NOW, may_schedule=False)
    assert idle.changes == []


def test_instances_of_tasks_gone_from_the_dag_are_removed():
    exam = examine_run(
        spec_of(chain_dag()), rows(a="success", b="success", c="success", old=None), run_start=NOW, now=NOW
    )
    assert changes(exam) == {"old": "removed"}
    assert exam.run_state == "success"


def _mapped_dag() -> DAG:
    with DAG("mapped", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        produce = BashOperator(task_id="produce", bash_command="true")
        BashOperator.partial(task_id="each").expand(bash_command=produce.output)
    return dag


def _rerun_rows() -> list[TiRow]:
    # A cleared run whose producer ran again: three expanded instances waiting to run.
    return [TiRow(0, "produce", "success", 2, None, None)] + [
        TiRow(1 + i, "each", None, 1, None, None, map_index=i) for i in range(3)
    ]


def test_a_rerun_over_fewer_items_removes_the_indexes_past_the_new_count():
    exam = examine_run(spec_of(_mapped_dag()), _rerun_rows(), run_start=NOW, now=NOW, map_lengths={"produce": 1})
    assert sorted((c.ti_id, c.new) for c in exam.changes) == [(1, "scheduled"), (2, "removed"), (3, "removed")]
    assert exam.new_map_indexes == [] and exam.run_state is None


def test_a_rerun_over_more_items_adds_the_missing_indexes_scheduled():
    exam = examine_run(spec_of(_mapped_dag()), _rerun_rows(), run_start=NOW, now=NOW, map_lengths={"produce": 5})
    assert sorted((c.ti_id, c.new) for c in exam.changes) == [(1, "scheduled"), (2, "scheduled"), (3, "scheduled")]
    [added] = exam.new_map_indexes
    assert (added.task_id, added.map_indexes, added.state, added.try_number) == ("each", (3, 4), "scheduled", 1)


def test_an_unknown_count_revises_nothing():
    exam = examine_run(spec_of(_mapped_dag()), _rerun_rows(), run_start=NOW, now=NOW, map_lengths={})
    assert exam.new_map_indexes == [] and "removed" not in changes(exam).values()
