"""TaskGroup, TaskGroupContext and the `@task_group` decorator (task-model-semantics §5).

A group prefixes its children's ids (`group.task`), passes its default_args to the operators made
inside it, and takes part in `>>` through its roots (tasks with no upstream inside the group) and
leaves (tasks with no downstream inside), evaluated when `>>` runs. Every DAG has a root group
(`dag.task_group`, group_id None) that holds the top-level tasks and groups.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from slipstream.sdk.dependencies import DependencyMixin
from slipstream.sdk.exceptions import AirflowException, DuplicateTaskIdFound, TaskAlreadyInTaskGroup

if TYPE_CHECKING:
    from slipstream.sdk.dag import DAG
    from slipstream.sdk.operators import BaseOperator

TASK_KEY_PATTERN = re.compile(r"^[\w.-]+$")
GROUP_KEY_PATTERN = re.compile(r"^[\w-]+$")
TASK_KEY_MAX_LENGTH = 250
GROUP_KEY_MAX_LENGTH = 200


def validate_task_key(key: Any, max_length: int = TASK_KEY_MAX_LENGTH) -> None:
    """Task ids and DAG ids: Airflow's validate_key, with its messages."""
    if not isinstance(key, str):
        raise TypeError(f"The key has to be a string and is {type(key)}:{key}")
    if len(key) > max_length:
        raise AirflowException(f"The key has to be less than {max_length} characters")
    if not TASK_KEY_PATTERN.match(key):
        raise AirflowException(
            f"The key {key!r} has to be made of alphanumeric characters, dashes, dots and underscores exclusively"
        )


def validate_group_key(key: Any, max_length: int = GROUP_KEY_MAX_LENGTH) -> None:
    """A group id used as a prefix: no dots (they separate the prefix), at most 200 characters."""
    if not isinstance(key, str):
        raise TypeError(f"The key has to be a string and is {type(key)}:{key}")
    if len(key) > max_length:
        raise AirflowException(f"The key has to be less than {max_length} characters")
    if not GROUP_KEY_PATTERN.match(key):
        raise AirflowException(
            f"The key {key!r} has to be made of alphanumeric characters, dashes and underscores exclusively"
        )


class TaskGroup(DependencyMixin):
    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
    ):
        from slipstream.sdk.dag import DagContext

        if default_args is not None and not isinstance(default_args, dict):
            raise TypeError("default_args must be a mapping")
        self.prefix_group_id = prefix_group_id
        self.default_args: dict[str, Any] = copy.deepcopy(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.children: dict[str, Any] = {}
        self.task_group: TaskGroup | None = None  # the parent group
        self.upstream_group_ids: set[str | None] = set()
        self.downstream_group_ids: set[str | None] = set()
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        dag = dag or DagContext.current()

        if group_id is None:
            if parent_group is not None:
                raise AirflowException("Root TaskGroup cannot have parent_group")
            # Shared by every group of the DAG: group ids and task ids must not collide.
            self.used_group_ids: set[str | None] = set()
            self._dag = dag
            self._group_id: str | None = None
            return

        if prefix_group_id:
            validate_group_key(group_id)
        else:
            if not isinstance(group_id, str):
                raise ValueError("group_id must be str")
            if not group_id:
                raise ValueError("group_id must not be empty")
        if parent_group is None and dag is None:
            raise AirflowException("TaskGroup can only be used inside a dag")
        parent_group = parent_group or TaskGroupContext.current(dag)
        if parent_group is None:
            raise AirflowException("TaskGroup must have a parent_group except for the root TaskGroup")
        if dag is not None and dag is not parent_group.dag:
            raise RuntimeError(f"Cannot mix TaskGroups from different DAGs: {dag} and {parent_group.dag}")
        self._dag = parent_group.dag
        self.used_group_ids = parent_group.used_group_ids
        self._group_id = self._unique_group_id(group_id, add_suffix_on_collision)
        parent_group.add(self)
        # Outer group defaults first, this group's own on top.
        if parent_group.default_args:
            self.default_args = {**parent_group.default_args, **self.default_args}
        self.used_group_ids.add(self.group_id)

    def _unique_group_id(self, group_id: str, add_suffix_on_collision: bool) -> str:
        if group_id not in self.used_group_ids:
            return group_id
        if not add_suffix_on_collision:
            raise DuplicateTaskIdFound(f"group_id '{group_id}' has already been added to the DAG")
        base = re.split(r"__\d+$", group_id)[0]
        pattern = re.compile(rf"^{re.escape(base)}__(\d+)$")
        suffixes = [int(m.group(1)) for used in self.used_group_ids if used and (m := pattern.match(used))]
        return f"{base}__{max(suffixes) + 1}" if suffixes else f"{group_id}__1"

    @classmethod
    def create_root(cls, dag: DAG) -> TaskGroup:
        return cls(group_id=None, dag=dag)

    # -- identity ------------------------------------------------------------------------------
    @property
    def dag(self) -> DAG | None:
        return self._dag

    @dag.setter
    def dag(self, value: DAG | None) -> None:
        self._dag = value

    @property
    def group_id(self) -> str | None:
        """The full id: the parent's prefix (if the parent prefixes) plus this group's label."""
        parent = self.task_group
        if parent is not None and parent.prefix_group_id and parent._group_id:
            return parent.child_id(self._group_id)
        return self._group_id

    @property
    def node_id(self) -> str | None:
        return self.group_id

    @property
    def label(self) -> str | None:
        return self._group_id

    @property
    def is_root(self) -> bool:
        return not self.group_id

    @property
    def parent_group(self) -> TaskGroup | None:
        return self.task_group

    def child_id(self, label: str) -> str:
        """The id a child labelled `label` gets: prefixed with this group's id when it prefixes."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    # -- children ------------------------------------------------------------------------------
    def add(self, node: Any) -> Any:
        """Make `node` (an operator or a group) a child of this group."""
        existing = getattr(node, "task_group", None)
        if TaskGroupContext.active and existing is not None and existing is not self:
            # A task made inside `with group:` but first attached elsewhere moves to this group.
            existing.children.pop(node.node_id, None)
            node.task_group = None
            existing = None
        if not isinstance(node, TaskGroup) and existing is not None and existing is not self:
            raise TaskAlreadyInTaskGroup(
                f"cannot add {node.node_id!r} to {self.node_id!r} (already in {existing.node_id!r})"
            )
        node.task_group = self
        key = node.node_id
        if key in self.children:
            kind = "Task" if hasattr(node, "task_id") else "Task Group"
            raise DuplicateTaskIdFound(f"{kind} id '{key}' has already been added to the DAG")
        self.children[key] = node
        return node

    def __iter__(self) -> Iterator[BaseOperator]:
        """Every task in this group and its nested groups, in the order they were added."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child
            else:
                yield child

    def has_task(self, task: BaseOperator) -> bool:
        return any(t is task for t in self)

    def get_task_group_dict(self) -> dict[str | None, TaskGroup]:
        groups: dict[str | None, TaskGroup] = {self.group_id: self}
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                groups.update(child.get_task_group_dict())
        return groups

    def get_child_by_label(self, label: str) -> Any:
        return self.children[self.child_id(label)]

    # -- relationships -------------------------------------------------------------------------
    @property
    def roots(self) -> list[BaseOperator]:
        """Tasks with no upstream inside the group, as of now."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if t.upstream_task_ids.isdisjoint(ids)]

    @property
    def leaves(self) -> list[BaseOperator]:
        """Tasks with no downstream inside the group, as of now; a teardown leaf stands aside for its
        nearest non-teardown upstream in the group (so `group >> x` does not wait on clean-up)."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        leaves: list[BaseOperator] = []
        for task in tasks:
            if task.downstream_task_ids.isdisjoint(ids):
                candidates = _non_teardown_upstreams(task, ids) if task.is_teardown else [task]
                leaves += [c for c in candidates if c not in leaves]
        return leaves

    def update_relative(self, other: Any, upstream: bool = True, edge_modifier: Any = None) -> None:
        """Remember group-level edges (what a graph view draws), as Airflow does."""
        if isinstance(other, TaskGroup):
            parent, child = (self, other) if upstream else (other, self)
            parent.upstream_group_ids.add(child.group_id)
            child.downstream_group_ids.add(parent.group_id)
            return
        for task in getattr(other, "roots", []):
            (self.upstream_task_ids if upstream else self.downstream_task_ids).add(task.node_id)

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        from slipstream.sdk.dependencies import as_node_list

        for node in as_node_list(other):
            if isinstance(node, DependencyMixin):
                self.update_relative(node, True)
        super().set_upstream(other, edge_modifier=edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        from slipstream.sdk.dependencies import as_node_list

        for node in as_node_list(other):
            if isinstance(node, DependencyMixin):
                self.update_relative(node, False)
        super().set_downstream(other, edge_modifier=edge_modifier)

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> TaskGroup:
        TaskGroupContext.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        TaskGroupContext.pop()

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def _non_teardown_upstreams(teardown: BaseOperator, ids: set[str]) -> list[BaseOperator]:
    """Airflow's replacement for a teardown leaf: its upstreams in the group, through teardowns, that
    are neither its setups nor already followed by other work in the group."""
    found: list[BaseOperator] = []
    for up in teardown.upstream_list:
        if up.task_id not in ids:
            continue
        if up.is_teardown:
            found += _non_teardown_upstreams(up, ids)
        elif up.is_setup:
            continue
        elif not any(
            d.task_id != teardown.task_id and d.task_id in ids and not d.is_teardown for d in up.downstream_list
        ):
            found.append(up)
    return found


class TaskGroupContext:
    """The groups opened with `with TaskGroup(...)`, innermost last."""

    active: bool = False
    _stack: list[TaskGroup] = []

    @classmethod
    def push(cls, group: TaskGroup) -> None:
        cls._stack.append(group)
        cls.active = True

    @classmethod
    def pop(cls) -> TaskGroup | None:
        group = cls._stack.pop() if cls._stack else None
        cls.active = bool(cls._stack)
        return group

    @classmethod
    def current(cls, dag: DAG | None = None) -> TaskGroup | None:
        """The innermost open group, else the root group of `dag` (or of the open DAG)."""
        if cls._stack:
            return cls._stack[-1]
        if dag is None:
            from slipstream.sdk.dag import DagContext  # dag.py imports this module

            dag = DagContext.current()
        return dag.task_group if dag is not None else None

    # Airflow's names, for DAG files and plugins that call them.
    push_context_managed_task_group = push
    pop_context_managed_task_group = pop
    get_current_task_group = current


# -- @task_group --------------------------------------------------------------------------------
_TASK_GROUP_ARGS = (
    "group_id",
    "prefix_group_id",
    "parent_group",
    "dag",
    "default_args",
    "tooltip",
    "ui_color",
    "ui_fgcolor",
)


class TaskGroupFactory:
    """What `@task_group` returns: calling it builds a new group around one call of the function."""

    def __init__(self, function: Callable[..., Any], group_kwargs: dict[str, Any]):
        if not callable(function):
            raise TypeError(f"@task_group needs a function, got {function!r}")
        unknown = sorted(set(group_kwargs) - set(_TASK_GROUP_ARGS))
        if unknown:
            raise TypeError(f"task_group() got an unexpected keyword argument {unknown[0]!r}")
        self.function = function
        self.group_kwargs = {"group_id": function.__name__, **group_kwargs}
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A reused group function gets tg, tg__1, tg__2, ... (always, unlike a TaskGroup).
        with TaskGroup(add_suffix_on_collision=True, **self.group_kwargs) as group:
            if self.function.__doc__ and not group.tooltip:
                group.tooltip = self.function.__doc__
            result = self.function(*args, **kwargs)
        return result if result is not None else group

    def override(self, **kwargs: Any) -> TaskGroupFactory:
        return TaskGroupFactory(self.function, {**self.group_kwargs, **kwargs})

    # -- mapped task groups (slipstream.sdk.mapping) ------------------------------------------------
    def partial(self, **kwargs: Any) -> Any:
        from slipstream.sdk.mapping import TaskGroupPartial

        return TaskGroupPartial(self, kwargs)

    def expand(self, **kwargs: Any) -> Any:
        from slipstream.sdk.mapping import expand_task_group

        return expand_task_group(self, "expand", kwargs, {})

    def expand_kwargs(self, kwargs: Any) -> Any:
        from slipstream.sdk.mapping import expand_task_group

        return expand_task_group(self, "expand_kwargs", kwargs, {})


def task_group(python_callable: Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """`@task_group` or `@task_group(group_id=..., tooltip=..., default_args=...)`."""
    if callable(python_callable) and not group_kwargs:
        return TaskGroupFactory(python_callable, {})
    if python_callable is not None and not callable(python_callable):
        # @task_group("my_group"): the first positional argument is the group id.
        group_kwargs = {"group_id": python_callable, **group_kwargs}
    return functools.partial(TaskGroupFactory, group_kwargs=group_kwargs)
