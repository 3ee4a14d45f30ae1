"""The `>>` / `<<` protocol shared by operators, task groups, edge labels and XComArgs.

Contract for anything that takes part in relationships (`a >> b`, `[a, b] >> c`, `set_upstream`,
`set_downstream`, `chain`, `cross_downstream`, `chain_linear`, `Label`):

- subclass `DependencyMixin`;
- implement the two properties `roots` and `leaves`, each a list of operators (BaseOperator
  instances): `a >> b` connects every leaf of `a` to every root of `b`. An operator is its own root
  and leaf; an XComArg answers `[its operator]` for both;
- nothing else is required. `set_upstream`, `set_downstream`, the four shift operators, list
  operands and edge labels all come from the mixin. The DAG a relationship lands in is the one the
  operators belong to (`dag` below is derived from the roots and leaves).
- optionally override `update_relative(other, upstream, edge_modifier)`, a hook called on each
  operand before the operators are connected (task groups record group edges there; labels
  remember their sides).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipstream.sdk.dag import DAG
    from slipstream.sdk.edges import EdgeModifier
    from slipstream.sdk.operators import BaseOperator


class DependencyMixin:
    """Relationship operators in terms of `roots` and `leaves` (see the module docstring)."""

    @property
    def roots(self) -> list[BaseOperator]:
        raise NotImplementedError(f"{type(self).__name__} must define roots")

    @property
    def leaves(self) -> list[BaseOperator]:
        raise NotImplementedError(f"{type(self).__name__} must define leaves")

    @property
    def dag(self) -> DAG | None:
        for task in [*self.roots, *self.leaves]:
            if task.dag is not None:
                return task.dag
        return None

    def update_relative(
        self, other: DependencyMixin, upstream: bool = True, edge_modifier: EdgeModifier | None = None
    ) -> None:
        """Told that `other` is becoming upstream (or downstream) of this node. No-op by default."""

    def set_upstream(self, other: Any, edge_modifier: EdgeModifier | None = None) -> None:
        for root in self.roots:
            root.set_upstream(other, edge_modifier=edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: EdgeModifier | None = None) -> None:
        for leaf in self.leaves:
            leaf.set_downstream(other, edge_modifier=edge_modifier)

    def __rshift__(self, other: Any) -> Any:
        """self >> other: other runs after self; returns other so chains read left to right."""
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> DependencyMixin:
        """[a, b] >> self (a list has no >> of its own)."""
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> DependencyMixin:
        """[a, b] << self."""
        self.set_downstream(other)
        return self


def as_node_list(value: Any) -> list[Any]:
    """One operand or a sequence of them, as a list (a str is not a sequence of nodes)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    return [value]


def relationship_error(value: Any) -> Exception:
    from slipstream.sdk.exceptions import AirflowException

    return AirflowException(f"Relationships can only be set between Operators; received {type(value).__name__}")
