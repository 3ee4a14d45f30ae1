"""Trigger rules (engine-semantics §3): counts over direct upstream, immediate flags, all 11 rules."""

from __future__ import annotations

import pytest

from slipstream.scheduler.dependencies import Decision, UpstreamCounts, count_upstream, decide, evaluate_trigger_rule

RUN, WAIT, SKIP, UF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED


def states(*values: str | None) -> dict[str, str | None]:
    return {f"u{i}": v for i, v in enumerate(values)}


def rule(name: str, *upstream_states: str | None) -> Decision:
    upstream = states(*upstream_states)
    return decide(name, upstream, upstream)


def test_counts_cover_direct_upstream_only_and_missing_instances_are_unfinished():
    counts = count_upstream(["a", "b", "c", "gone"], {"a": "success", "b": "removed", "c": "running", "x": "failed"})
    assert counts == UpstreamCounts(upstream=4, success=1, removed=1)
    assert counts.done == 2 and not counts.all_done


def test_no_upstream_or_always_runs_at_once():
    assert evaluate_trigger_rule("all_success", UpstreamCounts(0)) is RUN
    assert rule("always", "failed", None) is RUN


@pytest.mark.parametrize(
    ("name", "upstream", "expected"),
    [
        # all_success: runs when all succeeded; a failure beats a skip; skips propagate.
        ("all_success", ["success", "success"], RUN),
        ("all_success", ["success", "running"], WAIT),
        ("all_success", ["failed", "running"], UF),
        ("all_success", ["upstream_failed", "success"], UF),
        ("all_success", ["skipped", "running"], SKIP),
        ("all_success", ["failed", "skipped"], UF),
        # all_failed
        ("all_failed", ["failed", "upstream_failed"], RUN),
        ("all_failed", ["failed", "running"], WAIT),
        ("all_failed", ["success", "failed"], SKIP),
        ("all_failed", ["skipped", None], SKIP),
        # all_done
        ("all_done", ["success", "failed", "skipped", "upstream_failed"], RUN),
        ("all_done", ["success", "up_for_retry"], WAIT),
        # all_skipped
        ("all_skipped", ["skipped", "skipped"], RUN),
        ("all_skipped", ["skipped", None], WAIT),
        ("all_skipped", ["success", None], SKIP),
        ("all_skipped", ["upstream_failed", None], SKIP),
        # one_success: no waiting for the rest
        ("one_success", ["success", "running"], RUN),
        ("one_success", ["failed", "running"], WAIT),
        ("one_success", ["skipped", "skipped"], SKIP),
        ("one_success", ["failed", "skipped"], UF),
        # one_failed
        ("one_failed", ["upstream_failed", "running"], RUN),
        ("one_failed", ["success", "running"], WAIT),
        ("one_failed", ["success", "skipped"], SKIP),
        # one_done
        ("one_done", ["failed", "running"], RUN),
        ("one_done", ["skipped", "running"], WAIT),
        ("one_done", ["skipped", "upstream_failed"], SKIP),
        # none_failed: runs even when every upstream skipped
        ("none_failed", ["skipped", "skipped"], RUN),
        ("none_failed", ["success", "running"], WAIT),
        ("none_failed", ["upstream_failed", "running"], UF),
        # none_failed_min_one_success
        ("none_failed_min_one_success", ["success", "skipped"], RUN),
        ("none_failed_min_one_success", ["skipped", "skipped"], SKIP),
        ("none_failed_min_one_success", ["skipped", "running"], WAIT),
        ("none_failed_min_one_success", ["failed", "skipped"], UF),
        # none_skipped: failures are fine
        ("none_skipped", ["success", "failed"], RUN),
        ("none_skipped", ["success", "running"], WAIT),
        ("none_skipped", ["skipped", "running"], SKIP),
    ],
)
def test_rule_table(name, upstream, expected):
    assert rule(name, *upstream) is expected


def test_removed_upstream_counts_as_done():
    assert rule("all_done", "removed", "success") is RUN
    # all_success never passes with a removed upstream: the run ends in a deadlock, as in Airflow.
    assert rule("all_success", "removed", "success") is WAIT


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError):
        rule("sometimes", "success")


def test_removed_upstream_indexes_count_for_an_expanded_instance_only():
    """Airflow 2.10's TriggerRuleDep: an expanded instance (map_index >= 0) discounts removed upstream
    indexes, and one at or past the upstream's successes is removed; an unmapped one still waits."""
    mapped = {"m": ("success", "removed", "removed")}
    assert decide("all_success", ["m"], mapped) is WAIT  # unmapped consumer (apache/airflow#48816)
    assert decide("all_success", ["m"], mapped, map_index=0) is RUN
    assert decide("all_success", ["m"], mapped, map_index=1) is Decision.REMOVED
    assert decide("none_failed", ["m"], mapped, map_index=2) is RUN
    assert decide("all_success", ["m"], {"m": ("success", "success")}, map_index=1) is RUN
