"""`Variable`, as DAG files use it: AIRFLOW_VAR_{KEY} in the environment first, then the metadata database.

A value read in a task whose key names something sensitive (password, token, secret, ...) is masked
in the task's log.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

_NO_DEFAULT: Any = object()


def _from_env(key: str) -> str | None:
    return os.environ.get(f"AIRFLOW_VAR_{key.upper()}")


class Variable:
    """Class methods only, as in Airflow; an instance describes one stored variable."""

    def __init__(self, key: str | None = None, val: str | None = None, description: str | None = None):
        self.key = key
        self.val = val
        self.description = description

    def __repr__(self) -> str:
        return f"{self.key} : {'***' if self.val is not None else None}"

    @classmethod
    def get(cls, key: str, default_var: Any = _NO_DEFAULT, deserialize_json: bool = False) -> Any:
        """The value (JSON-decoded if asked); `default_var` when there is none, else KeyError."""
        value = cls.get_variable_from_secrets(key)
        if value is None:
            if default_var is not _NO_DEFAULT:
                return default_var
            raise KeyError(f"Variable {key} does not exist")
        from slipstream.scheduler.masking import mask_secret

        if deserialize_json:
            decoded = json.loads(value)
            mask_secret(decoded, key)
            return decoded
        mask_secret(value, key)
        return value

    @staticmethod
    def get_variable_from_secrets(key: str) -> str | None:
        value = _from_env(key)
        if value is not None:
            return value
        from slipstream.sdk import metastore
        from slipstream.services.variables import get_variable

        with metastore.read_session() as session:
            stored = get_variable(session, key, metastore.cipher())
        return None if stored is None else stored.value

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        """Store `str(value)`, or `json.dumps(value, indent=2)` with serialize_json, replacing the row."""
        from slipstream.sdk import metastore
        from slipstream.services.variables import serialize_value, set_variable

        cls._warn_if_shadowed(key)
        stored = serialize_value(value) if serialize_json else str(value)
        with metastore.write_session() as session:
            set_variable(session, key, stored, metastore.cipher(), description=description)

    @classmethod
    def update(cls, key: str, value: Any, serialize_json: bool = False) -> None:
        """Change a variable stored in the database (not one that only the environment defines)."""
        from slipstream.errors import NotFound
        from slipstream.sdk import metastore
        from slipstream.services.variables import serialize_value, update_variable

        cls._warn_if_shadowed(key)
        if cls.get_variable_from_secrets(key) is None:
            raise KeyError(f"Variable {key} does not exist")
        stored = serialize_value(value) if serialize_json else str(value)
        with metastore.write_session() as session:
            try:
                update_variable(session, key, stored, metastore.cipher())
            except NotFound as exc:
                raise AttributeError(exc.message) from None

    @classmethod
    def delete(cls, key: str) -> int:
        """Rows deleted from the database (0 or 1)."""
        from slipstream.sdk import metastore
        from slipstream.services.variables import delete_variable

        with metastore.write_session() as session:
            return delete_variable(session, key)

    @staticmethod
    def _warn_if_shadowed(key: str) -> None:
        if _from_env(key) is not None:
            log.warning(
                "The variable %s is defined in the EnvironmentVariablesBackend secrets backend, which takes "
                "precedence over reading from the database. The value in the database will be updated, but "
                "to read it you have to delete the conflicting variable from EnvironmentVariablesBackend",
                key,
            )


class VariableAccessor:
    """`{{ var.value.k }}`, `{{ var.json.k.sub }}`, `{{ var.value.get('k', 'default') }}` in templates."""

    def __init__(self, *, deserialize_json: bool):
        self._deserialize_json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):  # copy, pickle and Jinja probe dunders: not variables
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._deserialize_json)

    def get(self, key: str, default_var: Any = _NO_DEFAULT) -> Any:
        return Variable.get(key, default_var, deserialize_json=self._deserialize_json)

    def __repr__(self) -> str:
        return "<VariableAccessor (json)>" if self._deserialize_json else "<VariableAccessor (value)>"


__all__ = ["Variable", "VariableAccessor"]
