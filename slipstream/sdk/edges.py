"""Edge labels: `a >> Label("when ready") >> b` wires a >> b and records the label on that edge.

A label has no effect on scheduling; it only fills `dag.edge_info[a][b] = {"label": ...}`. It waits
for both sides, so `Label(...) << b` and lists on either side work too.
"""

from __future__ import annotations

from typing import Any

from slipstream.sdk.dependencies import DependencyMixin, as_node_list


class EdgeModifier(DependencyMixin):
    def __init__(self, label: str | None = None):
        self.label = label
        self._upstream: list[DependencyMixin] = []
        self._downstream: list[DependencyMixin] = []

    @property
    def roots(self) -> list[Any]:
        return [task for node in self._downstream for task in node.roots]

    @property
    def leaves(self) -> list[Any]:
        return [task for node in self._upstream for task in node.leaves]

    @property
    def dag(self) -> Any:
        for node in [*self._upstream, *self._downstream]:
            if node.dag is not None:
                return node.dag
        return None

    @staticmethod
    def _checked(nodes: Any) -> list[DependencyMixin]:
        from slipstream.sdk.operators import BaseOperator
        from slipstream.sdk.task_group import TaskGroup

        checked = []
        for node in as_node_list(nodes):
            # XComArgs (written elsewhere) subclass DependencyMixin; another label is not allowed.
            if isinstance(node, EdgeModifier) or not isinstance(node, (BaseOperator, TaskGroup, DependencyMixin)):
                raise TypeError(f"Cannot use edge labels with {type(node).__name__}, only tasks, XComArg or TaskGroups")
            checked.append(node)
        return checked

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        nodes = self._checked(other)
        self._upstream.extend(nodes)
        for node in self._downstream:
            node.set_upstream(nodes, edge_modifier=self)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        nodes = self._checked(other)
        self._downstream.extend(nodes)
        for node in self._upstream:
            node.set_downstream(nodes, edge_modifier=self)

    def update_relative(self, other: Any, upstream: bool = True, edge_modifier: Any = None) -> None:
        # An operator's `a >> label` lands here: remember a as this label's upstream side.
        if upstream:
            self.set_upstream(other)
        else:
            self.set_downstream(other)

    def add_edge_info(self, dag: Any, upstream_id: str, downstream_id: str) -> None:
        dag.set_edge_info(upstream_id, downstream_id, {"label": self.label})

    def __repr__(self) -> str:
        return f"<Label: {self.label!r}>"


def Label(label: str) -> EdgeModifier:  # noqa: N802 - Airflow's name
    """An edge label: `a >> Label("x") >> b`."""
    return EdgeModifier(label=label)
