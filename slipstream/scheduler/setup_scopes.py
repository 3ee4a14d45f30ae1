"""Setup/teardown facts the scheduler derives once per DAG version (task-model-semantics §12).

- Which tasks decide the run's state: teardowns do not, unless `on_failure_fail_dagrun`.
- Which setups each task depends on: its direct setups (counted by `all_done_setup_success`) and the
  setups further upstream whose scope covers it (a setup with no teardown, or one whose teardown is
  downstream of the task); those must succeed before a work task runs, as in Airflow.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipstream.scheduler.dag_specs import TaskSpec


def run_state_leaves(tasks: dict[str, TaskSpec]) -> frozenset[str]:
    """Airflow's effective leaves: tasks whose downstreams are all ignorable teardowns, themselves not
    ignorable. A DAG made only of teardowns falls back to the plain leaves."""

    def ignorable(task_id: str) -> bool:
        task = tasks.get(task_id)
        return task is not None and task.is_teardown and not task.on_failure_fail_dagrun

    leaves = frozenset(
        t.task_id for t in tasks.values() if all(ignorable(d) for d in t.downstream) and not ignorable(t.task_id)
    )
    return leaves or frozenset(t.task_id for t in tasks.values() if not t.downstream)


def _closure(tasks: dict[str, TaskSpec], task_id: str, upstream: bool) -> set[str]:
    seen: set[str] = set()
    stack = [task_id]
    while stack:
        task = tasks.get(stack.pop())
        if task is None:
            continue
        for rel in task.upstream if upstream else task.downstream:
            if rel not in seen:
                seen.add(rel)
                stack.append(rel)
    return seen


def with_setup_scopes(tasks: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
    """The same tasks, each with `direct_setups` and `indirect_setups` filled in."""
    teardowns_of = {
        t.task_id: {d for d in t.downstream if d in tasks and tasks[d].is_teardown}
        for t in tasks.values()
        if t.is_setup
    }
    scoped: dict[str, TaskSpec] = {}
    for task_id, task in tasks.items():
        direct = tuple(u for u in task.upstream if u in teardowns_of)
        indirect: tuple[str, ...] = ()
        if not task.is_teardown:
            ancestors = _closure(tasks, task_id, upstream=True) - set(task.upstream)
            setups = [a for a in ancestors if a in teardowns_of]
            if setups:
                downstream_teardowns = {
                    d
                    for d in _closure(tasks, task_id, upstream=False)
                    if (t := tasks.get(d)) is not None and t.is_teardown
                }
                indirect = tuple(
                    sorted(s for s in setups if not teardowns_of[s] or teardowns_of[s] & downstream_teardowns)
                )
        scoped[task_id] = dataclasses.replace(task, direct_setups=direct, indirect_setups=indirect)
    return scoped
