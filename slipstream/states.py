"""The one state machine: DAG-run and task-instance states and the transitions allowed between them."""

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

# (from, to) pairs the engine may write. None stands for "no state yet".
DAG_RUN_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (DagRunState.QUEUED, DagRunState.RUNNING),
        (DagRunState.RUNNING, DagRunState.SUCCESS),
        (DagRunState.RUNNING, DagRunState.FAILED),
        (DagRunState.QUEUED, DagRunState.FAILED),
    }
)

TASK_INSTANCE_TRANSITIONS: frozenset[tuple[str | None, str | None]] = frozenset(
    {
        (None, TI.SCHEDULED),
        (None, TI.SUCCESS),  # EmptyOperator finishes without running
        (None, TI.SKIPPED),
        (None, TI.UPSTREAM_FAILED),
        (None, TI.REMOVED),
        (TI.UP_FOR_RETRY, TI.SCHEDULED),
        (TI.UP_FOR_RETRY, TI.SKIPPED),
        (TI.UP_FOR_RETRY, TI.UPSTREAM_FAILED),
        (TI.UP_FOR_RETRY, TI.FAILED),
        (TI.UP_FOR_RESCHEDULE, TI.SCHEDULED),
        (TI.SCHEDULED, TI.QUEUED),
        (TI.SCHEDULED, None),
        (TI.SCHEDULED, TI.SKIPPED),
        (TI.QUEUED, TI.RUNNING),
        (TI.QUEUED, None),
        (TI.QUEUED, TI.UP_FOR_RETRY),
        (TI.QUEUED, TI.FAILED),
        (TI.QUEUED, TI.SKIPPED),
        (TI.RUNNING, TI.SUCCESS),
        (TI.RUNNING, TI.FAILED),
        (TI.RUNNING, TI.SKIPPED),
        (TI.RUNNING, TI.UP_FOR_RETRY),
        (TI.RUNNING, TI.UP_FOR_RESCHEDULE),
        (TI.RUNNING, TI.RESTARTING),
        (TI.RESTARTING, TI.UP_FOR_RETRY),
    }
)


def can_transition_run(old: str, new: str) -> bool:
    return (old, new) in DAG_RUN_TRANSITIONS


def can_transition_ti(old: str | None, new: str | None) -> bool:
    return (old, new) in TASK_INSTANCE_TRANSITIONS
