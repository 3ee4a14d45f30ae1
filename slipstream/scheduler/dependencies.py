"""Trigger rules (engine-semantics §3): may a task run, must it be flagged, or does it wait?

Pure functions over the states of a task's DIRECT upstream task instances in the same run.
A flag (skipped / upstream_failed) is decided as soon as its condition holds, even while other
upstream tasks still run; a failure beats a skip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from slipstream.states import TaskInstanceState as TI


class Decision(Enum):
    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True)
class UpstreamCounts:
    upstream: int  # U: number of direct upstream tasks
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @property
    def all_done(self) -> bool:
        return self.done >= self.upstream


def count_upstream(upstream_task_ids: Iterable[str], states: Mapping[str, str | None]) -> UpstreamCounts:
    """Count finished upstream states; an upstream without a task instance counts as not finished."""
    success = skipped = failed = upstream_failed = removed = total = 0
    for task_id in upstream_task_ids:
        total += 1
        state = states.get(task_id)
        if state == TI.SUCCESS:
            success += 1
        elif state == TI.SKIPPED:
            skipped += 1
        elif state == TI.FAILED:
            failed += 1
        elif state == TI.UPSTREAM_FAILED:
            upstream_failed += 1
        elif state == TI.REMOVED:
            removed += 1
    return UpstreamCounts(total, success, skipped, failed, upstream_failed, removed)


def _flag(rule: str, c: UpstreamCounts) -> Decision | None:
    """The state to flag the task with right now, if any (Airflow's flag_upstream_failed)."""
    failures = c.failed + c.upstream_failed
    if rule == "all_success":
        if failures:
            return Decision.UPSTREAM_FAILED
        if c.skipped:
            return Decision.SKIP
    elif rule == "all_failed":
        if c.success or c.skipped:
            return Decision.SKIP
    elif rule == "one_success":
        if c.all_done and c.done == c.skipped:
            return Decision.SKIP
        if c.all_done and c.success == 0:
            return Decision.UPSTREAM_FAILED
    elif rule == "one_failed":
        if c.all_done and not failures:
            return Decision.SKIP
    elif rule == "one_done":
        if c.all_done and not (c.failed or c.success):
            return Decision.SKIP
    elif rule == "none_failed":
        if failures:
            return Decision.UPSTREAM_FAILED
    elif rule == "none_failed_min_one_success":
        if failures:
            return Decision.UPSTREAM_FAILED
        if c.skipped == c.upstream:
            return Decision.SKIP
    elif rule == "none_skipped":
        if c.skipped:
            return Decision.SKIP
    elif rule == "all_skipped":
        if c.success or failures:
            return Decision.SKIP
    return None


def _met(rule: str, c: UpstreamCounts) -> bool:
    failures = c.failed + c.upstream_failed
    if rule == "all_success":
        return c.success >= c.upstream
    if rule == "all_failed":
        return failures >= c.upstream
    if rule in ("all_done", "all_done_setup_success"):
        return c.all_done
    if rule == "all_skipped":
        return c.skipped >= c.upstream
    if rule == "one_success":
        return c.success > 0
    if rule == "one_failed":
        return failures > 0
    if rule == "one_done":
        return c.success + c.failed > 0
    if rule in ("none_failed", "none_failed_min_one_success"):
        return c.success + c.skipped >= c.upstream
    if rule == "none_skipped":
        return c.all_done and c.skipped == 0
    if rule == "always":
        return True
    raise ValueError(f"unknown trigger rule {rule!r}")


def evaluate_trigger_rule(rule: str, counts: UpstreamCounts) -> Decision:
    """RUN when the rule is met, SKIP / UPSTREAM_FAILED when it must be flagged, else WAIT."""
    if counts.upstream == 0 or rule == "always":
        return Decision.RUN
    flag = _flag(rule, counts)
    if flag is not None:
        return flag
    return Decision.RUN if _met(rule, counts) else Decision.WAIT


def decide(rule: str, upstream_task_ids: Iterable[str], states: Mapping[str, str | None]) -> Decision:
    return evaluate_trigger_rule(rule, count_upstream(upstream_task_ids, states))
