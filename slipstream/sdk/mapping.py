"""Dynamic task mapping (task-model-semantics §11).

At parse time `Op.partial(...).expand(...)` (or `@task` `.expand`) makes one MappedOperator: a task
of the DAG like any other, holding the operator class, its fixed arguments and what it expands
over. The serialized DAG keeps only how to count the expansion (literal lengths and producer task
ids); the scheduler counts, and each task process rebuilds the real operator for its map index
with `MappedOperator.unmap`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from slipstream.sdk.operators import BaseOperator, _init_parameters, operator_defaults
from slipstream.sdk.xcom import XCOM_RETURN_KEY
from slipstream.sdk.xcom_arg import (
    NO_FILL_VALUE,
    Resolvable,
    XComArg,
    iter_xcom_references,
    set_xcomarg_dependencies,
)

# Arguments every operator takes: they cannot be mapped over (Airflow's rule).
_BASE_ARGUMENTS = _init_parameters(BaseOperator)


def is_mappable(value: Any) -> bool:
    return isinstance(value, (XComArg, MappedArgument, Mapping, Sequence)) and not isinstance(value, str)


def prevent_duplicates(first: Mapping[str, Any], second: Mapping[str, Any], *, fail_reason: str) -> None:
    duplicated = set(first).intersection(second)
    if len(duplicated) == 1:
        raise TypeError(f"{fail_reason} argument: {duplicated.pop()}")
    if duplicated:
        raise TypeError(f"{fail_reason} arguments: {', '.join(sorted(duplicated))}")


def ensure_return_value_references(value: Any) -> None:
    """Only a task's return value can be mapped over."""
    for operator, key in iter_xcom_references(value):
        if key != XCOM_RETURN_KEY:
            raise ValueError(f"cannot map over XCom with custom key {key!r} from {operator}")


def _describe_type(value: Any) -> str:
    if isinstance(value, (list, tuple)) and value:
        return f"{type(value).__name__}[{type(value[0]).__name__}]"
    return type(value).__name__


class _Resolved(Resolvable):
    """A value taken from an XCom: set into a template field, it is not rendered again."""

    def __init__(self, value: Any):
        self.value = value

    def resolve(self, context: dict[str, Any]) -> Any:
        return self.value


# -- what is expanded over -------------------------------------------------------------------------


class ExpandInput:
    """`expand(**lists)` (kind "dict_of_lists") or `expand_kwargs(list_of_dicts)` ("list_of_dicts")."""

    def __init__(self, kind: str, value: Any):
        self.kind = kind
        self.value = value
        self.resolved_count: int | None = None  # set by resolve(): the number of instances
        self.resolved_from_xcom: set[str] = set()  # set by resolve(): not rendered as templates again

    def _sources(self) -> list[Any]:
        return list(self.value.values()) if self.kind == "dict_of_lists" else [self.value]

    def factors(self) -> list[dict[str, Any]]:
        """How the scheduler counts: each factor a literal length or a producer's length, multiplied."""
        factors = []
        for source in self._sources():
            if isinstance(source, MappedArgument):
                factors.extend(source.group_input.factors())
            else:
                factors.append(_factor_of(source))
        return factors

    def resolve(self, context: dict[str, Any], map_index: int) -> dict[str, Any]:
        """The arguments of one map index: the last mapped argument varies fastest."""
        if self.kind == "list_of_dicts":
            return self._resolve_list_of_dicts(context, map_index)
        values = {name: _full_value(source, context) for name, source in self.value.items()}
        self.resolved_from_xcom = {name for name, source in self.value.items() if isinstance(source, Resolvable)}
        lengths = {name: len(value) for name, value in values.items()}
        self.resolved_count = math.prod(lengths.values())
        chosen: dict[str, Any] = {}
        remainder = map_index
        for name in reversed(list(values)):
            remainder, position = divmod(remainder, lengths[name]) if lengths[name] else (remainder, 0)
            chosen[name] = _element(values[name], position)
        if remainder:
            raise IndexError(f"index {map_index} is over mapped length")
        return {name: chosen[name] for name in values}

    def _resolve_list_of_dicts(self, context: dict[str, Any], map_index: int) -> dict[str, Any]:
        mappings = _full_value(self.value, context)
        if not isinstance(mappings, Sequence) or isinstance(mappings, str):
            raise ValueError(f"expand_kwargs() expects a list[dict], not {_describe_type(mappings)}")
        self.resolved_count = len(mappings)
        from_xcom = isinstance(self.value, Resolvable) or isinstance(mappings[map_index], Resolvable)
        mapping = mappings[map_index]
        if isinstance(mapping, Resolvable):
            mapping = mapping.resolve(context)
        if not isinstance(mapping, Mapping):
            raise ValueError(f"expand_kwargs() expects a list[dict], not list[{_describe_type(mapping)}]")
        for key in mapping:
            if not isinstance(key, str):
                raise ValueError(
                    f"expand_kwargs() input dict keys must all be str, but {key!r} is of type {_describe_type(key)}"
                )
        self.resolved_from_xcom = {key for key, value in mapping.items() if from_xcom or isinstance(value, Resolvable)}
        return {
            key: value.resolve(context) if isinstance(value, Resolvable) else value for key, value in mapping.items()
        }


def _factor_of(source: Any) -> dict[str, Any]:
    if isinstance(source, MapXComArg):
        return _factor_of(source.arg)
    if isinstance(source, ZipXComArg):
        return {"zip": [_factor_of(a) for a in source.args], "fill": source.fillvalue is not _NOTSET}
    if isinstance(source, ConcatXComArg):
        return {"concat": [_factor_of(a) for a in source.args]}
    if isinstance(source, XComArg):
        (operator, _key), *_ = list(source.iter_references())
        return {"xcom": operator.task_id}
    return {"literal": len(source)}


def _full_value(source: Any, context: dict[str, Any]) -> Any:
    if isinstance(source, MappedArgument):
        return source.resolve(context)
    if isinstance(source, Resolvable):
        value = source.resolve(context)
        return [] if value is None else value
    return source


def _element(value: Any, position: int) -> Any:
    if isinstance(value, Mapping):
        return list(value.items())[position]
    return value[position]


class MappedArgument(Resolvable):
    """An argument of a mapped `@task_group` function: one element per map index of the group."""

    def __init__(self, group_input: ExpandInput, name: str):
        self.group_input = group_input
        self.name = name

    def resolve(self, context: dict[str, Any]) -> Any:
        return self.group_input.resolve(context, context["ti"].map_index)[self.name]

    def iter_references(self):
        yield from iter_xcom_references(self.group_input.value)


# -- parse time: partial and expand ----------------------------------------------------------------


def validate_mapping_kwargs(operator_class: type, func: str, kwargs: Mapping[str, Any]) -> None:
    accepted = _init_parameters(operator_class)
    unknown = [name for name in kwargs if name not in accepted]
    if func == "expand":
        for name, value in kwargs.items():
            if name in accepted and not is_mappable(value):
                raise ValueError(
                    f"{operator_class.__name__}.expand() got an unexpected type {type(value).__name__!r} "
                    f"for keyword argument {name}"
                )
    if len(unknown) == 1:
        raise TypeError(f"{operator_class.__name__}.{func}() got an unexpected keyword argument {unknown[0]!r}")
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise TypeError(f"{operator_class.__name__}.{func}() got unexpected keyword arguments {names}")


def _check_expand_kwargs_argument(kwargs: Any) -> None:
    if isinstance(kwargs, Sequence) and not isinstance(kwargs, str):
        for item in kwargs:
            if not isinstance(item, (XComArg, Mapping)):
                raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")
    elif not isinstance(kwargs, XComArg):
        raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")


class OperatorPartial:
    """What `Op.partial(...)` returns: only `.expand()` / `.expand_kwargs()` make it a task."""

    def __init__(self, operator_class: type, kwargs: dict[str, Any]):
        self._expand_called = True  # until validated: a refused partial() warns about nothing
        validate_mapping_kwargs(operator_class, "partial", kwargs)
        if "task_id" not in kwargs:
            raise TypeError("partial() missing 1 required keyword-only argument: 'task_id'")
        self.operator_class = operator_class
        self.kwargs = kwargs
        self._expand_called = False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.operator_class.__name__}.partial({args})"

    def __del__(self) -> None:
        if not getattr(self, "_expand_called", True):
            warnings.warn(f"Task {self.kwargs.get('task_id')!r} was never mapped!", UserWarning, stacklevel=1)

    def expand(self, **mapped_kwargs: Any) -> MappedOperator:
        if not mapped_kwargs:
            raise TypeError("no arguments to expand against")
        validate_mapping_kwargs(self.operator_class, "expand", mapped_kwargs)
        prevent_duplicates(
            {**self.kwargs, **dict.fromkeys(_BASE_ARGUMENTS)},
            mapped_kwargs,
            fail_reason="unmappable or already specified",
        )
        return self._expand(ExpandInput("dict_of_lists", mapped_kwargs))

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> MappedOperator:
        _check_expand_kwargs_argument(kwargs)
        return self._expand(ExpandInput("list_of_dicts", kwargs))

    def _expand(self, expand_input: ExpandInput) -> MappedOperator:
        self._expand_called = True
        ensure_return_value_references(expand_input.value)
        base = {k: v for k, v in self.kwargs.items() if k in _BASE_ARGUMENTS}
        specific = {k: v for k, v in self.kwargs.items() if k not in _BASE_ARGUMENTS}
        return MappedOperator.create(self.operator_class, base, specific, expand_input)


class MappedOperator(BaseOperator):
    """A mapped task in the DAG: BaseOperator's scheduling attributes, plus how to build each index."""

    is_mapped = True

    @classmethod
    def create(
        cls,
        operator_class: type,
        base_kwargs: dict[str, Any],
        partial_kwargs: dict[str, Any],
        expand_input: ExpandInput,
        *,
        expand_into_op_kwargs: bool = False,
    ) -> MappedOperator:
        from slipstream.sdk.dag import DagContext
        from slipstream.sdk.task_group import TaskGroupContext

        dag = base_kwargs.get("dag") or DagContext.current()
        group = base_kwargs.get("task_group") or TaskGroupContext.current(dag)
        if closest_mapped_group(group) is not None:  # TaskFlow's .expand too, as in Airflow
            raise NotImplementedError("operator expansion in an expanded task group is not yet supported")
        if base_kwargs.get("trigger_rule") == "always" and any(iter_xcom_references(expand_input.value)):
            verb = "expand" if expand_input.kind == "dict_of_lists" else "expand_kwargs"
            raise ValueError(
                f"Task-generated mapping within a task using '{verb}' is not allowed with trigger rule 'always'."
            )
        self = cls.__new__(cls)
        self.operator_class = operator_class
        self.partial_kwargs = partial_kwargs
        self.expand_input = expand_input
        self.expand_into_op_kwargs = expand_into_op_kwargs
        self.template_fields = tuple(operator_class.template_fields)
        self.template_ext = tuple(operator_class.template_ext)
        self.template_fields_renderers = dict(operator_class.template_fields_renderers)
        self.ui_color = operator_class.ui_color
        self.ui_fgcolor = operator_class.ui_fgcolor
        self._task_defaults = operator_defaults(dag, group, base_kwargs.get("default_args"))
        self._base_kwargs = {k: v for k, v in base_kwargs.items() if k not in ("dag", "task_group", "default_args")}
        BaseOperator.__init__(self, **base_kwargs)
        if self.sla is not None:
            from slipstream.sdk.exceptions import AirflowException

            raise AirflowException(
                f"SLAs are unsupported with mapped tasks. Please set `sla=None` for task {self.task_id!r}."
            )
        set_xcomarg_dependencies(self, expand_input.value, *partial_kwargs.values())
        return self

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"

    @property
    def task_type(self) -> str:
        return self.operator_class.__name__

    @property
    def operator_name(self) -> str:
        return self.operator_class.__name__

    def execute(self, context: dict[str, Any]) -> Any:
        raise RuntimeError(f"{self!r} must be unmapped before it runs")

    # -- the scheduler's view --------------------------------------------------------------------------
    def mapping_spec(self) -> dict[str, Any]:
        """For the serialized DAG: the count is the product of the factors' lengths."""
        factors = list(self.expand_input.factors())
        group = closest_mapped_group(self.task_group)
        while group is not None:
            factors.extend(group.expand_input.factors())
            group = closest_mapped_group(group.task_group)
        return {"factors": factors, "group": _mapped_group_id(self.task_group)}

    # -- a task process's view -------------------------------------------------------------------------
    def unmap(self, context: dict[str, Any], map_index: int) -> BaseOperator:
        """The real operator of one map index, attached to this task's DAG, group and relatives."""
        mapped = self.expand_input.resolve(context, map_index) if map_index >= 0 else {}
        kwargs = {**self._base_kwargs, **self.partial_kwargs, "params": self.params}
        kwargs["default_args"] = {k: v for k, v in self._task_defaults.items() if k != "params"}
        if self.expand_into_op_kwargs:
            op_kwargs = dict(kwargs.get("op_kwargs") or {})
            from_xcom = self.expand_input.resolved_from_xcom
            op_kwargs.update({name: _Resolved(v) if name in from_xcom else v for name, v in mapped.items()})
            kwargs["op_kwargs"] = op_kwargs
        else:
            for name, value in mapped.items():
                from_xcom = name in self.expand_input.resolved_from_xcom and name in self.template_fields
                kwargs[name] = _Resolved(value) if from_xcom and isinstance(value, str) else value
        kwargs["task_id"] = self.task_id
        operator = self.operator_class(**kwargs)
        operator.dag = self.dag
        operator.task_group = self.task_group
        operator.upstream_task_ids = set(self.upstream_task_ids)
        operator.downstream_task_ids = set(self.downstream_task_ids)
        operator.start_date, operator.end_date = self.start_date, self.end_date
        operator.expanded_ti_count = self.expand_input.resolved_count
        return operator


def closest_mapped_group(group: Any) -> Any:
    while group is not None:
        if getattr(group, "expand_input", None) is not None:
            return group
        group = group.task_group
    return None


def _mapped_group_id(group: Any) -> str | None:
    mapped = closest_mapped_group(group)
    return None if mapped is None else mapped.group_id


def mapping_spec_of(task: Any) -> dict[str, Any] | None:
    """How the scheduler counts a task's instances: a MappedOperator's own, a mapped group's for its
    other tasks (each gets the group's count; nested groups multiply), None for an unmapped task."""
    if isinstance(task, MappedOperator):
        return task.mapping_spec()
    group = closest_mapped_group(getattr(task, "task_group", None))
    if group is None:
        return None
    factors = []
    while group is not None:
        factors.extend(group.expand_input.factors())
        group = closest_mapped_group(group.task_group)
    return {"factors": factors, "group": _mapped_group_id(task.task_group)}


def has_mapped_dependants(task: Any) -> bool:
    """Whether a mapped task counts its instances from this task's return value. One always is a
    direct downstream (a mapped group's roots are made downstream of its producers), so only those
    are looked at: a task process asks this after every try."""
    from slipstream.scheduler.expansion import factor_producers

    for downstream in task.downstream_list:
        spec = mapping_spec_of(downstream)
        if spec and task.task_id in set(factor_producers(spec["factors"])):
            return True
    return False


def same_mapped_group_index(producer: Any, context: dict[str, Any]) -> int | None:
    """A task pulling from a sibling in its mapped task group gets the value of its own map index."""
    consumer = context.get("task")
    group = closest_mapped_group(getattr(consumer, "task_group", None))
    if group is None or closest_mapped_group(getattr(producer, "task_group", None)) is not group:
        return None
    return context["ti"].map_index


def task_map_of(value: Any, max_length: int) -> dict[str, Any]:
    """What a producer with mapped dependants records on success, or the error that fails it."""
    from slipstream.sdk.exceptions import AirflowException

    if value is None:
        raise AirflowException("did not push XCom for task mapping")
    if not isinstance(value, (list, tuple, dict)):
        raise AirflowException(f"unmappable return type {type(value).__qualname__!r}")
    if len(value) > max_length:
        raise AirflowException(f"unmappable return value length: {len(value)} > {max_length}")
    keys = [str(k) for k in value] if isinstance(value, dict) else None
    return {"length": len(value), "keys": keys}


# -- TaskFlow: `@task` functions ---------------------------------------------------------------------


def _validate_function_arguments(decorator: Any, func: str, kwargs: Mapping[str, Any]) -> None:
    import inspect

    from slipstream.sdk.context_keys import CONTEXT_KEYS

    context_keys = [name for name in kwargs if name in CONTEXT_KEYS]
    if len(context_keys) == 1:
        raise ValueError(f"cannot call {func}() on task context variable {context_keys[0]!r}")
    if context_keys:
        raise ValueError(f"cannot call {func}() on task context variables {', '.join(repr(n) for n in context_keys)}")
    parameters = inspect.signature(decorator.function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    for name, value in kwargs.items():
        if name in parameters and func == "expand" and not is_mappable(value):
            raise ValueError(f"expand() got an unexpected type {type(value).__name__!r} for keyword argument {name!r}")
    unknown = [name for name in kwargs if name not in parameters]
    if len(unknown) == 1:
        raise TypeError(f"{func}() got an unexpected keyword argument {unknown[0]!r}")
    if unknown:
        raise TypeError(f"{func}() got unexpected keyword arguments {', '.join(repr(n) for n in unknown)}")


def taskflow_partial(decorator: Any, kwargs: dict[str, Any]) -> Any:
    _validate_function_arguments(decorator, "partial", kwargs)
    prevent_duplicates(decorator.partial_kwargs, kwargs, fail_reason="duplicate partial")
    return decorator.with_partial({**decorator.partial_kwargs, **kwargs})


def taskflow_expand(decorator: Any, func: str, value: Any) -> Any:
    from slipstream.sdk.decorators import _unique_task_id
    from slipstream.sdk.xcom_arg import PlainXComArg

    options = dict(decorator.kwargs)
    if func == "expand":
        if options.get("trigger_rule") == "always" and any(isinstance(v, XComArg) for v in value.values()):
            raise ValueError(
                "Task-generated mapping within a task using 'expand' is not allowed with trigger rule 'always'."
            )
        if not value:
            raise TypeError("no arguments to expand against")
        _validate_function_arguments(decorator, "expand", value)
        expand_input = ExpandInput("dict_of_lists", value)
    else:
        if (
            options.get("trigger_rule") == "always"
            and not isinstance(value, XComArg)
            and any(isinstance(v, XComArg) for item in value if not isinstance(item, XComArg) for v in item.values())
        ):
            raise ValueError(
                "Task-generated mapping within a task using 'expand_kwargs' is not allowed with trigger rule 'always'."
            )
        _check_expand_kwargs_argument(value)
        expand_input = ExpandInput("list_of_dicts", value)
    ensure_return_value_references(expand_input.value)
    from slipstream.sdk.dag import DagContext

    dag = options.get("dag") or DagContext.current()
    options["task_id"] = _unique_task_id(
        options.pop("task_id", None) or decorator.function.__name__, dag, options.get("task_group")
    )
    if decorator.function.__doc__ and "doc_md" not in options:
        import inspect

        options["doc_md"] = inspect.cleandoc(decorator.function.__doc__)
    partial = {
        "python_callable": decorator.function,
        "op_args": [],
        "op_kwargs": dict(decorator.partial_kwargs),
    }
    options["multiple_outputs"] = decorator.multiple_outputs
    base = {k: v for k, v in options.items() if k in _BASE_ARGUMENTS}
    specific = {k: v for k, v in options.items() if k not in _BASE_ARGUMENTS}
    operator = MappedOperator.create(
        decorator.operator_class, base, {**specific, **partial}, expand_input, expand_into_op_kwargs=True
    )
    return PlainXComArg(operator)


# -- mapped task groups: `@task_group` functions ----------------------------------------------------


def expand_task_group(factory: Any, func: str, value: Any, partial_kwargs: dict[str, Any]) -> Any:
    """Build the group once; inside, each expanded argument is a MappedArgument of the group's input."""
    import inspect

    from slipstream.sdk.task_group import TaskGroup

    if func == "expand":
        if not value:
            raise TypeError("no arguments to expand against")
        prevent_duplicates(partial_kwargs, value, fail_reason="duplicate partial")
        expand_input = ExpandInput("dict_of_lists", value)
        names = list(value)
    else:
        _check_expand_kwargs_argument(value)
        expand_input = ExpandInput("list_of_dicts", value)
        names = [n for n in inspect.signature(factory.function).parameters if n not in partial_kwargs]
    ensure_return_value_references(expand_input.value)
    group = TaskGroup(add_suffix_on_collision=True, **factory.group_kwargs)
    group.expand_input = expand_input
    arguments = {**partial_kwargs, **{name: MappedArgument(expand_input, name) for name in names}}
    with group:
        if factory.function.__doc__ and not group.tooltip:
            group.tooltip = factory.function.__doc__
        result = factory.function(**arguments)
    inner = [t for t in group.dag.tasks if closest_mapped_group(t.task_group) is group]
    if any(iter_xcom_references(expand_input.value)) and any(t.trigger_rule == "always" for t in inner):
        raise ValueError("Task-generated mapping within a mapped task group is not allowed with trigger rule 'always'")
    for operator, _key in iter_xcom_references(expand_input.value):
        for root in group.roots:
            if root is not operator:
                root.set_upstream(operator)
    return result if result is not None else group


class TaskGroupPartial:
    """What `@task_group` `.partial(...)` returns: `.expand()` / `.expand_kwargs()` complete it."""

    def __init__(self, factory: Any, kwargs: dict[str, Any]):
        self.factory = factory
        self.kwargs = kwargs

    def expand(self, **kwargs: Any) -> Any:
        return expand_task_group(self.factory, "expand", kwargs, self.kwargs)

    def expand_kwargs(self, kwargs: Any) -> Any:
        return expand_task_group(self.factory, "expand_kwargs", kwargs, self.kwargs)


# -- XComArg.map / .zip / .concat ----------------------------------------------------------------------

_NOTSET = NO_FILL_VALUE


class _MapResult(Sequence):
    def __init__(self, value: Any, callables: list[Any]):
        self.value = value
        self.callables = callables

    def __getitem__(self, index: Any) -> Any:
        value = self.value[index]
        for function in self.callables:
            value = function(value)
        return value

    def __len__(self) -> int:
        return len(self.value)


class MapXComArg(XComArg):
    """`arg.map(f)`: each element of the producer's value passed through f when it is used."""

    def __init__(self, arg: XComArg, callables: list[Any]):
        self.arg = arg
        self.callables = callables

    def iter_references(self):
        yield from self.arg.iter_references()

    def map(self, function: Any) -> MapXComArg:
        return MapXComArg(self.arg, [*self.callables, function])

    def resolve(self, context: dict[str, Any]) -> Any:
        value = self.arg.resolve(context)
        if not isinstance(value, (Sequence, dict)):
            raise ValueError(f"XCom map expects sequence or dict, not {type(value).__name__}")
        return _MapResult(value, self.callables)


class _ZipResult(Sequence):
    def __init__(self, values: list[Any], fillvalue: Any):
        self.values = values
        self.fillvalue = fillvalue

    def __getitem__(self, index: Any) -> Any:
        if index >= len(self):
            raise IndexError(index)
        return tuple(_get_or_fill(value, index, self.fillvalue) for value in self.values)

    def __len__(self) -> int:
        lengths = [len(v) for v in self.values]
        return min(lengths) if self.fillvalue is _NOTSET else max(lengths)


def _get_or_fill(container: Any, index: int, fillvalue: Any) -> Any:
    try:
        return container[index]
    except (IndexError, KeyError):
        return fillvalue


class ZipXComArg(XComArg):
    """`a.zip(b, ...)`: tuples of the values' elements, as zip() (zip_longest with a fillvalue)."""

    def __init__(self, args: list[XComArg], *, fillvalue: Any = _NOTSET):
        if not args:
            raise ValueError("At least one input is required")
        self.args = args
        self.fillvalue = fillvalue

    def iter_references(self):
        for arg in self.args:
            yield from arg.iter_references()

    def resolve(self, context: dict[str, Any]) -> Any:
        values = [arg.resolve(context) for arg in self.args]
        for value in values:
            if not isinstance(value, (Sequence, dict)):
                raise ValueError(f"XCom zip expects sequence or dict, not {type(value).__name__}")
        return _ZipResult(values, self.fillvalue)


class _ConcatResult(Sequence):
    def __init__(self, values: list[Any]):
        self.values = values

    def __getitem__(self, index: Any) -> Any:
        i = index if index >= 0 else len(self) + index
        for value in self.values:
            if i < 0:
                break
            if i >= len(value):
                i -= len(value)
            elif isinstance(value, Sequence):
                return value[i]
            else:
                return list(value)[i]
        raise IndexError("list index out of range")

    def __len__(self) -> int:
        return sum(len(v) for v in self.values)


class ConcatXComArg(XComArg):
    """`a.concat(b, ...)`: the values one after another, as itertools.chain, with index access."""

    def __init__(self, args: list[XComArg]):
        if not args:
            raise ValueError("At least one input is required")
        self.args = args

    def iter_references(self):
        for arg in self.args:
            yield from arg.iter_references()

    def concat(self, *others: XComArg) -> ConcatXComArg:
        return ConcatXComArg([*self.args, *others])

    def resolve(self, context: dict[str, Any]) -> Any:
        values = [arg.resolve(context) for arg in self.args]
        for value in values:
            if not isinstance(value, (Sequence, dict)):
                raise ValueError(f"XCom concat expects sequence or dict, not {type(value).__name__}")
        return _ConcatResult(values)
