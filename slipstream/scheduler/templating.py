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
import jinja2.sandbox
import orjson


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


def render_value(value: Any, context: dict[str, Any], env: jinja2.Environment, template_ext: Sequence[str]) -> Any:
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
    return rendered


def json_safe(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return str(value)
