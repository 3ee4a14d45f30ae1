"""A trigger's conf checked against the DAG's params, from the serialized DAG (no DAG file imported).

Airflow's rule at run creation: the DAG's params overlaid with the conf (conf keys win; keys no param
declares become new, schema-less params) must all validate, whatever `dag_run_conf_overrides_params`
says. The first failure is a 400 naming the param: "Invalid input for param {key}: {error}".

The trigger path is benchmarked, so a DAG without params costs one dict lookup, and the checks a
DAG's params need (which defaults are valid, each schema's compiled validator) are worked out once per
serialized DAG, not per trigger.
"""

from __future__ import annotations

import threading
from typing import Any

from slipstream.errors import BadRequest
from slipstream.sdk.exceptions import ParamValidationError
from slipstream.sdk.params import NO_VALUE_MESSAGE, check_value, invalid_input_message, schema_error


class ParamChecks:
    """One serialized DAG's params, ready to check confs against."""

    def __init__(self, serialized_params: dict[str, Any]) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        # Why a param with no value in the conf fails (its default is missing or invalid), in the
        # params' order, which is the order Airflow reports them in.
        self.default_problems: list[tuple[str, str]] = []
        self.schema_problems: dict[str, str] = {}
        for key, entry in serialized_params.items():
            if not (isinstance(entry, dict) and "schema" in entry):
                entry = {"default": entry, "schema": {}}  # stored before params kept their schemas
            schema = entry.get("schema") or {}
            self.schemas[key] = schema
            problem = schema_error(schema) if isinstance(schema, dict) else "the schema is not a JSON object"
            if problem is not None:
                self.schema_problems[key] = f"Invalid schema: {problem}"
                self.default_problems.append((key, self.schema_problems[key]))
            elif "default" not in entry:
                self.default_problems.append((key, NO_VALUE_MESSAGE))
            else:
                try:
                    check_value(entry["default"], schema)
                except ParamValidationError as exc:
                    self.default_problems.append((key, str(exc)))

    def check(self, conf: dict[str, Any]) -> None:
        """BadRequest naming the first param the conf (or a default it leaves in place) breaks."""
        for key, value in conf.items():
            schema = self.schemas.get(key)
            if schema is None:
                continue  # an undeclared key: a new param without a schema, any JSON value fits
            if key in self.schema_problems:
                raise BadRequest(invalid_input_message(key, self.schema_problems[key]))
            try:
                check_value(value, schema)
            except ParamValidationError as exc:
                raise BadRequest(invalid_input_message(key, exc)) from None
        for key, problem in self.default_problems:
            if key not in conf:
                raise BadRequest(invalid_input_message(key, problem))


class _ChecksByDag:
    """ParamChecks per serialized DAG dict. The serialized DAGs are themselves cached per dag_hash
    (slipstream.services.serialized), so the same dict object comes back until the DAG changes; the
    entry holds the dict, so its id cannot be reused while the entry lives."""

    def __init__(self, max_entries: int = 512) -> None:
        self._max_entries = max_entries
        self._entries: dict[int, tuple[dict[str, Any], ParamChecks]] = {}
        self._lock = threading.Lock()

    def get(self, dag: dict[str, Any]) -> ParamChecks:
        entry = self._entries.get(id(dag))
        if entry is not None and entry[0] is dag:
            return entry[1]
        checks = ParamChecks(dag["params"])
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[id(dag)] = (dag, checks)
        return checks


_checks_by_dag = _ChecksByDag()


def check_trigger_conf(dag: dict[str, Any], conf: dict[str, Any]) -> None:
    """Raise BadRequest when the DAG's params overlaid with `conf` do not all validate."""
    if not dag.get("params"):
        return
    _checks_by_dag.get(dag).check(conf)
