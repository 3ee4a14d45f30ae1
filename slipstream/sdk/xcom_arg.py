"""XComArg: a reference to a task's XCom, resolved when the consuming task runs (task-model §2).

Made by `op.output`, `op.output["key"]`, `XComArg(op, key)` or calling a `@task` function. Used in a
template field or a TaskFlow argument it makes the producer upstream of the consumer; `>>` works on
it as on its operator.
"""

from __future__ import annotations

from typing import Any

from slipstream.sdk.dependencies import DependencyMixin
from slipstream.sdk.xcom import XCOM_RETURN_KEY

# zip() without a fillvalue stops at the shortest value (None is a fillvalue like any other).
NO_FILL_VALUE: Any = object()


class Resolvable:
    """A value computed from the running task's context (XComArgs, a @dag function's parameters)."""

    def resolve(self, context: dict[str, Any]) -> Any:
        raise NotImplementedError

    def iter_references(self):
        return iter(())


class XComArg(Resolvable, DependencyMixin):
    def __new__(cls, operator: Any = None, key: str = XCOM_RETURN_KEY, **_kwargs: Any):
        if cls is XComArg:
            cls = PlainXComArg
        return super().__new__(cls)

    # -- relationships: the producing operator stands in --------------------------------------------
    @property
    def roots(self) -> list[Any]:
        return [op for op, _ in self.iter_references()]

    @property
    def leaves(self) -> list[Any]:
        return [op for op, _ in self.iter_references()]

    def __iter__(self):
        raise TypeError("'XComArg' object is not iterable")

    # -- dynamic task mapping (slipstream.sdk.mapping) ------------------------------------------------
    def map(self, function: Any) -> Any:
        from slipstream.sdk.mapping import MapXComArg

        return MapXComArg(self, [function])

    def zip(self, *others: XComArg, fillvalue: Any = NO_FILL_VALUE) -> Any:
        from slipstream.sdk.mapping import ZipXComArg

        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> Any:
        from slipstream.sdk.mapping import ConcatXComArg

        return ConcatXComArg([self, *others])


class PlainXComArg(XComArg):
    def __init__(self, operator: Any, key: str = XCOM_RETURN_KEY):
        self.operator = operator
        self.key = key

    def iter_references(self):
        yield self.operator, self.key

    # Setup/teardown marks and `with` blocks act on the producing operator (task-model §12).
    def as_setup(self) -> PlainXComArg:
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> PlainXComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> PlainXComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.operator.__exit__(*exc)

    def map(self, function: Any) -> Any:
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().map(function)

    def zip(self, *others: XComArg, fillvalue: Any = NO_FILL_VALUE) -> Any:
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().zip(*others, fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> Any:
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot concatenate non-return XCom")
        return super().concat(*others)

    def __getitem__(self, item: Any) -> PlainXComArg:
        if not isinstance(item, str):
            raise ValueError(f"XComArg only supports str lookup, received {type(item).__name__}")
        return PlainXComArg(self.operator, item)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainXComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __str__(self) -> str:
        dag_id = self.operator.dag.dag_id if self.operator.dag is not None else None
        return (
            f"{{{{ task_instance.xcom_pull(task_ids='{self.operator.task_id}', dag_id='{dag_id}', "
            f"key='{self.key}') }}}}"
        )

    def __repr__(self) -> str:
        if self.key == XCOM_RETURN_KEY:
            return f"XComArg({self.operator!r})"
        return f"XComArg({self.operator!r}, {self.key!r})"

    def resolve(self, context: dict[str, Any]) -> Any:
        from slipstream.sdk.exceptions import XComNotFound
        from slipstream.sdk.mapping import same_mapped_group_index

        ti = context["ti"]
        task_id = self.operator.task_id
        missing = object()
        map_indexes = same_mapped_group_index(self.operator, context)
        value = ti.xcom_pull(task_ids=task_id, key=self.key, default=missing, map_indexes=map_indexes)
        if value is not missing:
            return value
        # A return value that was not pushed (None), or a key of multiple_outputs, resolves to None.
        if self.key == XCOM_RETURN_KEY or getattr(self.operator, "multiple_outputs", False):
            return None
        raise XComNotFound(ti.dag_id, task_id, self.key)


def iter_xcom_references(value: Any, _seen: set[int] | None = None):
    """Every (operator, key) an argument value refers to, looking inside lists, tuples, sets and dicts."""
    if isinstance(value, Resolvable):
        yield from value.iter_references()
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_xcom_references(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_references(item)


def set_xcomarg_dependencies(task: Any, *values: Any) -> None:
    """Make each producer referred to by `values` upstream of `task`."""
    for value in values:
        for operator, _key in iter_xcom_references(value):
            if operator is not task:
                task.set_upstream(operator)
