"""`Param` and `ParamsDict`: DAG and task params with JSON-schema validation (task-model-semantics §6).

A Param holds a default (or none: then a value must be given) and a JSON schema; a value is checked
with the `jsonschema` library and its format checker, and a failure reads as jsonschema's own text.
`ParamsDict` holds a DAG's or task's params; a plain value becomes a schema-less Param.

Validation is shared with processes that never import DAG files (the API and the scheduler check a
trigger's conf against the params stored in the serialized DAG): `check_value(value, schema)` is the
one rule, with each schema's validator compiled once. jsonschema is imported only when a non-empty
schema is checked, so DAGs without schemas never load it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import threading
import warnings
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping, ValuesView
from typing import Any, ClassVar

from slipstream.sdk.exceptions import AirflowException, ParamValidationError, RemovedInAirflow3Warning
from slipstream.sdk.schedule import NOTSET

NO_VALUE_MESSAGE = "No value passed and Param has no default value"
SCHEDULE_WITH_INVALID_PARAMS_MESSAGE = (
    "DAG is not allowed to define a Schedule, "
    "if there are any required params without default values or default values are not valid."
)
NON_JSON_MESSAGE = "The use of non-json-serializable params is deprecated and will be removed in a future release"


def invalid_input_message(key: str, error: object) -> str:
    return f"Invalid input for param {key}: {error}"


# -- the one validation rule --------------------------------------------------------------------------


class _Validators:
    """Compiled jsonschema validators by schema (as sorted JSON text), shared by every caller.

    Compiling a validator (and checking the schema itself) costs far more than validating a value, and a
    DAG's schemas are checked on every trigger and every task start.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, schema: Mapping[str, Any]) -> Any:
        try:
            key = json.dumps(schema, sort_keys=True)
        except (TypeError, ValueError):  # a schema JSON cannot hold: compile it every time
            return _compile(schema)
        validator = self._entries.get(key)
        if validator is None:
            validator = _compile(schema)
            with self._lock:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
                self._entries[key] = validator
        return validator


def _compile(schema: Mapping[str, Any]) -> Any:
    """What jsonschema.validate() builds for a schema: its draft's validator, the schema checked first."""
    from jsonschema import FormatChecker
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    cls.check_schema(schema)  # jsonschema.exceptions.SchemaError for a schema that is not one
    return cls(schema, format_checker=FormatChecker())


_validators = _Validators()


def schema_error(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` is not a JSON schema (jsonschema's text), or None when it is one."""
    if not schema:
        return None
    from jsonschema.exceptions import SchemaError

    try:
        _validators.get(schema)
    except SchemaError as exc:
        return str(exc)
    return None


def check_value(value: Any, schema: Mapping[str, Any]) -> Any:
    """Return the value if it satisfies `schema`; raise ParamValidationError with jsonschema's text.

    As Airflow does, a value that fails `format: date-time` is still accepted when it parses as an
    ISO 8601 date-time (a deprecated leniency, with a warning).
    """
    if not schema:  # the empty schema admits everything: no need to load jsonschema
        return value
    from jsonschema.exceptions import best_match

    error = best_match(_validators.get(schema).iter_errors(value))
    if error is None:
        return value
    if error.schema.get("format") == "date-time" and _is_iso8601_datetime(value):
        return value
    raise ParamValidationError(str(error))


def _is_iso8601_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        from pendulum.parsing import parse_iso8601

        parsed = parse_iso8601(value)
    except Exception:
        return False
    if not isinstance(parsed, datetime.datetime):
        return False
    warnings.warn(
        f"The use of non-RFC3339 datetime: {value!r} is deprecated and will be removed in a future release",
        RemovedInAirflow3Warning,
        stacklevel=3,
    )
    return True


def _warn_if_not_json(value: Any) -> None:
    try:
        json.dumps(value)
    except Exception:
        warnings.warn(NON_JSON_MESSAGE, RemovedInAirflow3Warning, stacklevel=3)


# -- Param -------------------------------------------------------------------------------------------


class Param:
    """A default value (or none) and the JSON schema a value must satisfy.

    `Param(5, type="integer", minimum=0)`: every keyword but `default` and `description` is part of
    the schema (or pass `schema={...}` whole). Without a schema any value is valid.
    """

    CLASS_IDENTIFIER: ClassVar[str] = "__class"

    def __init__(self, default: Any = NOTSET, description: str | None = None, **kwargs: Any):
        if default is not NOTSET:
            _warn_if_not_json(default)
        self.value = default
        self.description = description
        self.schema: dict[str, Any] = kwargs.pop("schema") if "schema" in kwargs else kwargs

    def __copy__(self) -> Param:
        return Param(self.value, self.description, schema=self.schema)

    def __repr__(self) -> str:
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"

    @property
    def has_value(self) -> bool:
        return self.value is not NOTSET and self.value is not None

    def resolve(self, value: Any = NOTSET, suppress_exception: bool = False) -> Any:
        """Validate `value` (or the default when none is given) and keep it as this Param's value.

        ParamValidationError when there is no value at all or it breaks the schema; with
        `suppress_exception` the answer is None instead.
        """
        if value is not NOTSET:
            _warn_if_not_json(value)
        final = self.value if value is NOTSET else value
        if final is NOTSET:
            if suppress_exception:
                return None
            raise ParamValidationError(NO_VALUE_MESSAGE)
        try:
            check_value(final, self.schema)
        except ParamValidationError:
            if suppress_exception:
                return None
            raise
        self.value = final
        return final

    def dump(self) -> dict[str, Any]:
        """The Param as a dict (value None when there is no default)."""
        return {
            self.CLASS_IDENTIFIER: f"{type(self).__module__}.{type(self).__name__}",
            "value": None if self.value is NOTSET else self.value,
            "description": self.description,
            "schema": self.schema,
        }

    def serialize(self) -> dict[str, Any]:
        return {"value": self.value, "description": self.description, "schema": self.schema}


# -- ParamsDict ---------------------------------------------------------------------------------------


class ParamsDict(MutableMapping[str, Any]):
    """Params by name. Reading a key resolves (validates) its Param; setting a key that has a Param
    validates the new value against it; any other value becomes a schema-less Param."""

    __slots__ = ("_params", "suppress_exception")

    def __init__(self, dict_obj: Mapping[str, Any] | None = None, suppress_exception: bool = False):
        self._params: dict[str, Param] = {}
        for key, value in (dict_obj or {}).items():
            self._params[key] = value if isinstance(value, Param) else Param(value)
        self.suppress_exception = suppress_exception

    def __bool__(self) -> bool:
        return bool(self._params)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParamsDict):
            return self.dump() == other.dump()
        if isinstance(other, dict):
            return self.dump() == other
        return NotImplemented

    def __copy__(self) -> ParamsDict:
        return ParamsDict(self._params, self.suppress_exception)

    def __deepcopy__(self, memo: dict[int, Any] | None) -> ParamsDict:
        return ParamsDict(copy.deepcopy(self._params, memo), self.suppress_exception)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __len__(self) -> int:
        return len(self._params)

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __repr__(self) -> str:
        # What Airflow's task endpoint shows for `params`: the resolved values.
        return repr(self.dump())

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            param = value
        elif key in self._params:
            param = self._params[key]
            try:
                param.resolve(value=value, suppress_exception=self.suppress_exception)
            except ParamValidationError as exc:
                raise ParamValidationError(invalid_input_message(key, exc)) from None
        else:
            param = Param(value)
        self._params[key] = param

    def __getitem__(self, key: str) -> Any:
        return self._params[key].resolve(suppress_exception=self.suppress_exception)

    def get_param(self, key: str) -> Param:
        """The Param object itself, unresolved."""
        return self._params[key]

    def items(self) -> ItemsView[str, Param]:  # type: ignore[override]
        return ItemsView(self._params)

    def values(self) -> ValuesView[Param]:  # type: ignore[override]
        return ValuesView(self._params)

    def update(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and not kwargs and isinstance(args[0], ParamsDict):
            return super().update(args[0]._params)
        return super().update(*args, **kwargs)

    def dump(self) -> dict[str, Any]:
        """The resolved values; a Param without a valid value shows as None."""
        return {key: param.resolve(suppress_exception=True) for key, param in self._params.items()}

    def validate(self) -> dict[str, Any]:
        """The resolved values as a plain dict; ParamValidationError naming the first invalid param."""
        resolved: dict[str, Any] = {}
        for key, param in self._params.items():
            try:
                resolved[key] = param.resolve(suppress_exception=self.suppress_exception)
            except ParamValidationError as exc:
                raise ParamValidationError(invalid_input_message(key, exc)) from None
        return resolved

    def serialize(self) -> dict[str, Any]:
        return self.dump()


def copy_params(params: Mapping[str, Any] | None) -> ParamsDict:
    """A ParamsDict of copies of `params`' Params, so resolving values never changes the DAG's own."""
    merged = ParamsDict()
    if params:
        raw = params._params if isinstance(params, ParamsDict) else params
        for key, value in raw.items():
            merged[key] = copy.copy(value) if isinstance(value, Param) else Param(value)
    return merged


def process_params(
    dag: Any, task: Any, conf: Mapping[str, Any] | None, *, conf_overrides_params: bool = True
) -> dict[str, Any]:
    """A task's params at run time: DAG params < task params < the run's conf (when the setting allows),
    validated; a plain dict of values. ParamValidationError names the first invalid param."""
    params = copy_params(getattr(dag, "params", None))
    params.update(copy_params(getattr(task, "params", None)))
    if conf_overrides_params and conf:
        params.update(conf)
    return params.validate()


def check_schedule_and_params(dag: Any) -> None:
    """Airflow's parse-time rule: a DAG that runs on a schedule must have valid defaults for every param.

    Raises AirflowException (from the ParamValidationError). A DAG with `schedule=None` is exempt.
    """
    schedule = getattr(dag, "schedule", None)
    if isinstance(schedule, dict) and schedule.get("type") == "none":
        return
    params = getattr(dag, "params", None)
    if not params:
        return
    try:
        (params if isinstance(params, ParamsDict) else ParamsDict(params)).validate()
    except ParamValidationError as exc:
        raise AirflowException(SCHEDULE_WITH_INVALID_PARAMS_MESSAGE) from exc


def check_param_schemas(params: Mapping[str, Any] | None) -> None:
    """A Param whose schema is not a JSON schema can validate nothing: say so when the DAG is parsed,
    rather than on every trigger."""
    if not params:
        return
    raw = params._params if isinstance(params, ParamsDict) else params
    for key, param in raw.items():
        if isinstance(param, Param):
            problem = schema_error(param.schema)
            if problem is not None:
                raise ParamValidationError(f"Invalid schema for param {key}: {problem}")


class DagParam:
    """A reference to a DAG param, resolved at run time (what `@dag` makes of its function's arguments).

    The value is the run's `dag_run.conf[name]`, else the default given here, else `params[name]`.
    """

    def __init__(self, current_dag: Any, name: str, default: Any = NOTSET):
        if default is not NOTSET:
            current_dag.params[name] = default
        self._name = name
        self._default = default

    def resolve(self, context: Mapping[str, Any], **_: Any) -> Any:
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            return context["dag_run"].conf[self._name]
        if self._default is not NOTSET:
            return self._default
        with contextlib.suppress(KeyError):
            return context["params"][self._name]
        raise AirflowException(f"No value could be resolved for parameter {self._name}")


__all__ = ["DagParam", "Param", "ParamsDict", "check_value", "process_params"]
