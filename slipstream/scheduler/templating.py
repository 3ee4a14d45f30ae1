"""Rendering an operator's template_fields with Jinja2, as Airflow does (engine-semantics §7).

StrictUndefined (an unknown name fails the task), the ds/ts filters, strings rendered, lists,
tuples and sets rendered element by element, dict values (not keys) rendered, other values
passed through; a string ending in one of the operator's template_ext is a template file,
looked up beside the DAG file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox
import orjson

from slipstream.scheduler.masking import redact
from slipstream.sdk.xcom_arg import Resolvable


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


FILTERS = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


@functools.lru_cache(maxsize=16)
def make_environment(search_path: tuple[str, ...]) -> jinja2.Environment:
    """One environment per template search path (the DAG file's folder), built once per process."""
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(list(search_path)),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        cache_size=0,
    )
    env.filters.update(FILTERS)
    return env


class NativeSandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment, jinja2.nativetypes.NativeEnvironment):
    """Sandboxed, but a template that is one expression renders to its Python value (`{{ [1, 2] }}` is a list)."""


def _customised(dag: Any) -> bool:
    return bool(
        getattr(dag, "user_defined_macros", None)
        or getattr(dag, "user_defined_filters", None)
        or getattr(dag, "render_template_as_native_obj", False)
        or getattr(dag, "jinja_environment_kwargs", None)
        or getattr(dag, "template_undefined", None)
    )


def dag_environment(dag: Any, folder: str) -> jinja2.Environment:
    """The environment a DAG's templates render in, as Airflow builds it: template files looked up in the
    DAG file's folder then `template_searchpath`; the DAG's macros as globals and its filters added;
    native Python results with `render_template_as_native_obj`; `jinja_environment_kwargs` on top."""
    search_path = (folder or ".", *(getattr(dag, "template_searchpath", None) or ()))
    if not _customised(dag):
        return make_environment(tuple(search_path))
    cached = getattr(dag, "_slipstream_jinja_environment", None)
    if cached is not None:
        return cached
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(list(search_path)),
        "undefined": getattr(dag, "template_undefined", None) or jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
    }
    options.update(getattr(dag, "jinja_environment_kwargs", None) or {})
    native = getattr(dag, "render_template_as_native_obj", False)
    env = (NativeSandboxedEnvironment if native else jinja2.sandbox.SandboxedEnvironment)(**options)
    env.filters.update(FILTERS)
    env.globals.update(getattr(dag, "user_defined_macros", None) or {})
    env.filters.update(getattr(dag, "user_defined_filters", None) or {})
    dag._slipstream_jinja_environment = env
    return env


def render_value(value: Any, context: dict[str, Any], env: jinja2.Environment, template_ext: Sequence[str]) -> Any:
    if isinstance(value, Resolvable):  # an XComArg or a @dag parameter: its value, not rendered again
        return value.resolve(context)
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            return env.get_template(value).render(context)
        return env.from_string(value).render(context)
    if isinstance(value, (list, tuple, set)):
        rendered = [render_value(item, context, env, template_ext) for item in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
            return type(value)(*rendered)
        return type(value)(rendered)
    if isinstance(value, dict):
        return {key: render_value(item, context, env, template_ext) for key, item in value.items()}
    return value


def render_template_fields(task: Any, context: dict[str, Any], env: jinja2.Environment) -> dict[str, Any]:
    """Render the task's template_fields in place; returns {field: rendered value} in a JSON-safe form."""
    rendered: dict[str, Any] = {}
    for name in task.template_fields:
        value = getattr(task, name, None)
        if value is None:
            rendered[name] = None
            continue
        value = render_value(value, context, env, task.template_ext)
        setattr(task, name, value)
        rendered[name] = json_safe(value)
    return redact(rendered)  # stored and shown by the API: secrets the rendering fetched are masked


def json_safe(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return str(value)
