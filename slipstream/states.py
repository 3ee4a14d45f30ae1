"""The one state machine: DAG-run and task-instance states and the transitions allowed between them.

Every state the engine writes is checked here first (`check_run_transition`, `check_ti_transition`);
the SQL that writes it lives in slipstream.scheduler.transitions.
"""

from __future__ import annotations

from enum import StrEnum


class DagRunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class TaskInstanceState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    RESTARTING = "restarting"
    DEFERRED = "deferred"


class IllegalTransition(Exception):
    """The engine tried a state change the state machine does not allow: always a bug."""


DAG_RUN_STATES = tuple(s.value for s in DagRunState)
FINISHED_RUN_STATES = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})

TI = TaskInstanceState
FINISHED_TI_STATES = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED})
# None (not yet scheduled) is schedulable too; it is not an enum member.
SCHEDULABLE_TI_STATES = frozenset({None, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE})
UNFINISHED_TI_STATES = frozenset(
    {
        None,
        TI.SCHEDULED,
        TI.QUEUED,
        TI.RUNNING,
        TI.UP_FOR_RETRY,
        TI.UP_FOR_RESCHEDULE,
        TI.RESTARTING,
        TI.DEFERRED,
    }
)
# States whose task holds a pool slot and counts toward concurrency limits.
OCCUPYING_TI_STATES = frozenset({TI.QUEUED, TI.RUNNING})
# A leaf in one of these fails the run; leaves all in SUCCESS_LEAF_STATES make it succeed.
FAILED_LEAF_STATES = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
SUCCESS_LEAF_STATES = frozenset({TI.SUCCESS, TI.SKIPPED})

MARKABLE_RUN_STATES = (DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED)
# (from, to) pairs the engine may write.
DAG_RUN_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (DagRunState.QUEUED, DagRunState.RUNNING),
        (DagRunState.RUNNING, DagRunState.SUCCESS),
        (DagRunState.RUNNING, DagRunState.FAILED),
        (DagRunState.QUEUED, DagRunState.FAILED),
        # A clear (TriggerDagRunOperator's reset_dag_run) queues the run again.
        (DagRunState.RUNNING, DagRunState.QUEUED),
        (DagRunState.SUCCESS, DagRunState.QUEUED),
        (DagRunState.FAILED, DagRunState.QUEUED),
        # A user's mark (the stable API's PATCH of a run's state): success, failed or queued from any state.
        *((old, new) for old in DagRunState for new in MARKABLE_RUN_STATES if old != new),
    }
)

_UNFINISHED_ENUM = [s for s in UNFINISHED_TI_STATES if s is not None]
# The states a user may set on task instances.
USER_SET_TI_STATES = (TI.SUCCESS, TI.FAILED, TI.SKIPPED)

# (from, to) pairs; None stands for "no state yet".
TASK_INSTANCE_TRANSITIONS: frozenset[tuple[str | None, str | None]] = frozenset(
    {
        # Scheduler: trigger rules, EmptyOperator, retries, reschedules, DAG changes.
        (None, TI.SCHEDULED),
        (None, TI.SUCCESS),  # EmptyOperator finishes without running
        (None, TI.SKIPPED),
        (None, TI.UPSTREAM_FAILED),
        (None, TI.REMOVED),
        (TI.UP_FOR_RETRY, TI.SCHEDULED),
        (TI.UP_FOR_RETRY, TI.SKIPPED),
        (TI.UP_FOR_RETRY, TI.UPSTREAM_FAILED),
        (TI.UP_FOR_RETRY, TI.FAILED),
        (TI.UP_FOR_RETRY, TI.REMOVED),
        (TI.UP_FOR_RESCHEDULE, TI.SCHEDULED),
        (TI.UP_FOR_RESCHEDULE, TI.SKIPPED),
        (TI.UP_FOR_RESCHEDULE, TI.UPSTREAM_FAILED),
        (TI.SCHEDULED, TI.REMOVED),
        # A mapped task re-counted on a re-run: indexes past its new count are removed, whatever they were.
        *((state, TI.REMOVED) for state in (*FINISHED_TI_STATES, TI.UP_FOR_RESCHEDULE) if state != TI.REMOVED),
        # Critical section, and back when the run finished before the task was queued.
        (TI.SCHEDULED, TI.QUEUED),
        (TI.SCHEDULED, None),
        # Task process; the scheduler when the process died first (handle_failure), or an orphan reset.
        (TI.QUEUED, TI.RUNNING),
        (TI.QUEUED, None),
        (TI.QUEUED, TI.UP_FOR_RETRY),
        (TI.QUEUED, TI.FAILED),
        (TI.RUNNING, TI.SUCCESS),
        (TI.RUNNING, TI.FAILED),
        (TI.RUNNING, TI.SKIPPED),
        (TI.RUNNING, TI.UP_FOR_RETRY),
        (TI.RUNNING, TI.UP_FOR_RESCHEDULE),
        (TI.RUNNING, TI.RESTARTING),
        # Deferral: the task process hands its wait to a trigger; the triggerer (or a trigger timeout
        # in the scheduler) schedules it again with the same try, to resume in its next_method.
        (TI.RUNNING, TI.DEFERRED),
        # start_from_trigger: the scheduler defers an instance itself instead of scheduling it.
        *((state, TI.DEFERRED) for state in (None, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)),
        (TI.DEFERRED, TI.SCHEDULED),
        (TI.DEFERRED, TI.SUCCESS),  # TaskSuccessEvent and friends end it from the triggerer
        (TI.DEFERRED, TI.FAILED),
        (TI.RESTARTING, TI.UP_FOR_RETRY),
        (TI.RESTARTING, TI.FAILED),
        # A clear: whatever the state, the instance starts over (a running try is restarting first).
        *((state, None) for state in TI if state != TI.RUNNING),
        # dagrun_timeout: every unfinished instance is skipped, running ones included.
        *((state, TI.SKIPPED) for state in _UNFINISHED_ENUM),
        # A user marks instances (the stable API's PATCH and updateTaskInstancesState, Airflow's
        # set_state); a running try whose state is set so is terminated by its supervisor.
        *((state, target) for state in (None, *TI) for target in USER_SET_TI_STATES if state != target),
        # A user marking the run (the stable API's PATCH of a run's state): success marks every instance
        # success; failed fails what runs or waits to resume (and skips the rest, as dagrun_timeout does).
        *((state, TI.SUCCESS) for state in (None, *TI) if state != TI.SUCCESS),
        *((state, TI.FAILED) for state in (TI.RUNNING, TI.DEFERRED, TI.UP_FOR_RESCHEDULE)),
    }
)


def can_transition_run(old: str, new: str) -> bool:
    return (old, new) in DAG_RUN_TRANSITIONS


def can_transition_ti(old: str | None, new: str | None) -> bool:
    return (old, new) in TASK_INSTANCE_TRANSITIONS


def check_run_transition(old: str, new: str) -> None:
    if not can_transition_run(old, new):
        raise IllegalTransition(f"DAG run state {old!r} -> {new!r} is not allowed")


def check_ti_transition(old: str | None, new: str | None) -> None:
    if not can_transition_ti(old, new):
        raise IllegalTransition(f"task instance state {old!r} -> {new!r} is not allowed")
