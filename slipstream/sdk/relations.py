"""`chain`, `cross_downstream` and `chain_linear`: many `>>` at once, with Airflow's rules and errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slipstream.sdk.dependencies import DependencyMixin
from slipstream.sdk.exceptions import AirflowException


def chain(*tasks: Any) -> None:
    """chain(t1, [t2, t3], [t4, t5], t6): t1 >> t2 >> t4 >> t6 and t1 >> t3 >> t5 >> t6.

    Neighbouring lists are paired element by element, so they must have the same length.
    """
    for up, down in zip(tasks, tasks[1:], strict=False):
        if isinstance(up, DependencyMixin):
            up.set_downstream(down)
            continue
        if isinstance(down, DependencyMixin):
            down.set_upstream(up)
            continue
        if not isinstance(up, Sequence) or not isinstance(down, Sequence):
            raise TypeError(f"Chain not supported between instances of {type(up)} and {type(down)}")
        if len(up) != len(down):
            raise AirflowException(f"Chain not supported for different length Iterable. Got {len(up)} and {len(down)}.")
        for up_task, down_task in zip(up, down, strict=True):
            up_task.set_downstream(down_task)


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Any) -> None:
    """Every task of from_tasks upstream of every task of to_tasks."""
    for task in from_tasks:
        task.set_downstream(to_tasks)


def chain_linear(*elements: Any) -> None:
    """chain_linear(op1, [op2, op3], [op4, op5, op6], op7): each element fully upstream of the next."""
    from slipstream.sdk.edges import EdgeModifier

    if not elements:
        raise ValueError("No tasks provided; nothing to do.")
    previous: Sequence[Any] | None = None
    wired = False
    for element in elements:
        if isinstance(element, EdgeModifier):
            raise ValueError("Labels are not supported by chain_linear")
        if previous is not None:
            for task in previous:
                task >> element
                wired = True
        previous = [element] if isinstance(element, DependencyMixin) else element
    if not wired:
        raise ValueError("No dependencies were set. Did you forget to expand with `*`?")
