"""Trigger rules (engine-semantics §3): may a task run, must it be flagged, or does it wait?

Pure functions over the states of a task's DIRECT upstream task instances in the same run.
A flag (skipped / upstream_failed) is decided as soon as its condition holds, even while other
upstream tasks still run; a failure beats a skip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from slipstream.states import TaskInstanceState as TI


class Decision(Enum):
    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"
    REMOVED = "removed"  # an expanded instance past what its mapped upstream still has (see _flag)


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


def count_upstream(upstream_task_ids: Iterable[str], states: Mapping[str, Any]) -> UpstreamCounts:
    """Count finished upstream states; an upstream without a task instance counts as not finished.

    A mapped upstream's states come as a tuple, one per instance: each counts (Airflow's rule)."""
    success = skipped = failed = upstream_failed = removed = total = 0
    for task_id in upstream_task_ids:
        state = states.get(task_id)
        if type(state) is tuple:  # rare: a mapped upstream
            mapped = count_upstream(range(len(state)), dict(enumerate(state)))
            total += mapped.upstream
            success += mapped.success
            skipped += mapped.skipped
            failed += mapped.failed
            upstream_failed += mapped.upstream_failed
            removed += mapped.removed
            continue
        total += 1
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


def _flag(rule: str, c: UpstreamCounts, map_index: int = -1) -> Decision | None:
    """The state to flag the task with right now, if any (Airflow's flag_upstream_failed)."""
    failures = c.failed + c.upstream_failed
    if rule == "all_success":
        if failures:
            return Decision.UPSTREAM_FAILED
        if c.skipped:
            return Decision.SKIP
        # A re-run over fewer upstream items: an expanded instance at or past the number of upstream
        # successes goes too, when upstream indexes were removed (Airflow 2.10's TriggerRuleDep).
        if c.removed and c.success and map_index >= c.success:
            return Decision.REMOVED
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


def _met(rule: str, c: UpstreamCounts, map_index: int = -1) -> bool:
    failures = c.failed + c.upstream_failed
    # An expanded mapped instance does not wait on removed upstream indexes (Airflow 2.10 discounts
    # them for map_index > -1 only: an unmapped consumer still counts them as not succeeded).
    removed = c.removed if map_index >= 0 else 0
    if rule == "all_success":
        return c.success + removed >= c.upstream
    if rule == "all_failed":
        return failures + removed >= c.upstream
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
        return c.success + c.skipped + removed >= c.upstream
    if rule == "none_skipped":
        return c.all_done and c.skipped == 0
    if rule == "always":
        return True
    raise ValueError(f"unknown trigger rule {rule!r}")


def evaluate_trigger_rule(
    rule: str, counts: UpstreamCounts, setups: UpstreamCounts | None = None, *, map_index: int = -1
) -> Decision:
    """RUN when the rule is met, SKIP / UPSTREAM_FAILED when it must be flagged, else WAIT.

    `setups` counts the direct upstream setups, for all_done_setup_success (a teardown's rule);
    `map_index` is the instance's (>= 0 for an expanded mapped one)."""
    if counts.upstream == 0 or rule == "always":
        return Decision.RUN
    if rule == "all_done_setup_success":
        return _setup_success(counts, setups)
    flag = _flag(rule, counts, map_index)
    if flag is not None:
        return flag
    return Decision.RUN if _met(rule, counts, map_index) else Decision.WAIT


def _setup_success(counts: UpstreamCounts, setups: UpstreamCounts | None) -> Decision:
    """A teardown waits for all its direct upstreams, then runs if one of its setups succeeded (or it
    has none); all setups skipped skips it, none succeeded flags it upstream_failed."""
    if not counts.all_done:
        return Decision.WAIT
    if setups is None or setups.upstream == 0 or setups.success:
        return Decision.RUN
    if setups.skipped >= setups.upstream:
        return Decision.SKIP
    return Decision.UPSTREAM_FAILED


def _setup_constraint(indirect: UpstreamCounts) -> Decision | None:
    """Setups further up whose scope covers a work task: a failed one flags it upstream_failed, a
    skipped one skips it, one not finished yet makes it wait."""
    if indirect.failed or indirect.upstream_failed:
        return Decision.UPSTREAM_FAILED
    if indirect.skipped:
        return Decision.SKIP
    if indirect.success + indirect.removed < indirect.upstream:
        return Decision.WAIT
    return None


def decide(
    rule: str,
    upstream_task_ids: Iterable[str],
    states: Mapping[str, str | None],
    *,
    setups: Iterable[str] = (),
    indirect_setups: Iterable[str] = (),
    map_index: int = -1,
) -> Decision:
    if indirect_setups:
        constraint = _setup_constraint(count_upstream(indirect_setups, states))
        if constraint is Decision.UPSTREAM_FAILED or constraint is Decision.SKIP:
            return constraint
        if constraint is Decision.WAIT:
            decision = evaluate_trigger_rule(rule, count_upstream(upstream_task_ids, states), map_index=map_index)
            return decision if decision is not Decision.RUN else Decision.WAIT
    setup_counts = count_upstream(setups, states) if rule == "all_done_setup_success" else None
    return evaluate_trigger_rule(rule, count_upstream(upstream_task_ids, states), setup_counts, map_index=map_index)
