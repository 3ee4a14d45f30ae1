"""`State`: Airflow's constants and groupings of task-instance and run states, over slipstream.states."""

from __future__ import annotations

from slipstream.states import DagRunState, TaskInstanceState

TI = TaskInstanceState


class State:
    SUCCESS = TI.SUCCESS
    RUNNING = TI.RUNNING
    FAILED = TI.FAILED
    NONE = None
    REMOVED = TI.REMOVED
    SCHEDULED = TI.SCHEDULED
    QUEUED = TI.QUEUED
    RESTARTING = TI.RESTARTING
    UP_FOR_RETRY = TI.UP_FOR_RETRY
    UP_FOR_RESCHEDULE = TI.UP_FOR_RESCHEDULE
    UPSTREAM_FAILED = TI.UPSTREAM_FAILED
    SKIPPED = TI.SKIPPED
    DEFERRED = TI.DEFERRED

    task_states: tuple[TaskInstanceState | None, ...] = (None, *TaskInstanceState)
    dag_states: tuple[DagRunState, ...] = (
        DagRunState.QUEUED,
        DagRunState.SUCCESS,
        DagRunState.RUNNING,
        DagRunState.FAILED,
    )
    finished_dr_states = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
    unfinished_dr_states = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})
    finished = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED})
    unfinished = frozenset(
        {None, TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED}
    )
    failed_states = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
    success_states = frozenset({TI.SUCCESS, TI.SKIPPED})

    state_color: dict[TaskInstanceState | None, str] = {
        None: "lightblue",
        TI.QUEUED: "gray",
        TI.RUNNING: "lime",
        TI.SUCCESS: "green",
        TI.RESTARTING: "violet",
        TI.FAILED: "red",
        TI.UP_FOR_RETRY: "gold",
        TI.UP_FOR_RESCHEDULE: "turquoise",
        TI.UPSTREAM_FAILED: "orange",
        TI.SKIPPED: "hotpink",
        TI.REMOVED: "lightgrey",
        TI.SCHEDULED: "tan",
        TI.DEFERRED: "mediumpurple",
    }

    @classmethod
    def color(cls, state: TaskInstanceState | None) -> str:
        return cls.state_color.get(state, "white")

    @classmethod
    def color_fg(cls, state: TaskInstanceState | None) -> str:
        return "white" if cls.color(state) in ("green", "red") else "black"
