"""/variables: list, get, set (POST overwrites), patch (Airflow's update_mask rules), delete."""

from __future__ import annotations

from starlette.responses import Response

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._bodies import page_offset, refuse_nul, schema_errors, update_mask_fields
from handlers.v1._pagination import page_limit
from slipstream.api.http import current_settings
from slipstream.api.v1_problems import V1Problem, bad_request, not_found
from slipstream.services import variables
from slipstream.storage.encryption import cipher_for

# The schema's fields by their API names, in Airflow's order; `value` is stored as `val`.
_FIELDS = ("key", "value", "description")
_REQUIRED = ("key", "value")


def _cipher():
    return cipher_for(current_settings())


def _variable_json(stored: variables.StoredVariable) -> dict:
    return {"description": stored.description, "key": stored.key, "value": stored.value}


def _not_found() -> V1Problem:
    return not_found("Variable not found", "Variable does not exist")


def _checked(body: dict) -> dict:
    problem = schema_errors(body, fields=_FIELDS, required=_REQUIRED)
    if problem:
        raise bad_request(problem, title="Invalid Variable schema")
    return body


@database_read
def get_variables(limit: int | None = None, offset: int = 0, order_by: str = "id"):
    descending = order_by.startswith("-")
    name = order_by[1:] if descending else order_by
    if name not in variables.ORDERING:
        raise bad_request(f"Ordering with '{name}' is disallowed or the attribute does not exist on the model")
    with reading() as session:
        page = variables.list_variables_page(
            session,
            _cipher(),
            order_by=name,
            descending=descending,
            limit=page_limit(limit),
            offset=page_offset(offset),
        )
        total = variables.count_variables(session)
    return json_response({"total_entries": total, "variables": [_variable_json(v) for v in page]})


@refuse_nul
@database_read
def get_variable(variable_key: str):
    with reading() as session:
        stored = variables.get_variable(session, variable_key, _cipher())
    if stored is None:
        raise _not_found()
    return json_response(_variable_json(stored))


@action_logging("variable.create")
async def post_variables(body: dict):
    data = _checked(body)
    cipher = _cipher()
    key, value, description = data["key"], data["value"], data.get("description")

    def set_variable(session):
        variables.set_variable(session, key, value, cipher, description=description)

    await group_committed(set_variable)
    # Airflow echoes what it loaded: no description when none was sent.
    echo = {"key": key, "value": value}
    if "description" in data:
        echo["description"] = description
    return json_response(echo)


@refuse_nul
@action_logging("variable.edit")
async def patch_variable(variable_key: str, body: dict, update_mask: list[str] | None = None):
    data = _checked(body)
    if data["key"] != variable_key:
        raise bad_request("key from request body doesn't match uri parameter", title="Invalid post body")
    # Airflow masks the loaded body, whose value is under its attribute name `val`.
    loaded = {"key": data["key"], "val": data["value"]}
    if "description" in data:
        loaded["description"] = data["description"]
    changes = {name: loaded[name] for name in ("val", "description") if name in loaded}
    mask = update_mask_fields(update_mask)
    cipher = _cipher()

    def patch(session):
        if not variables.variable_exists(session, variable_key):
            raise _not_found()
        selected = changes
        if mask:
            for name in mask:
                if name not in loaded or name == "key":
                    raise bad_request(f"'{name}' is unknown or cannot be updated.")
            selected = {name: loaded[name] for name in mask}
        return variables.patch_variable(
            session,
            variable_key,
            cipher,
            value=selected.get("val", variables.UNSET),
            description=selected.get("description", variables.UNSET),
        )

    return json_response(_variable_json(await group_committed(patch)))


@refuse_nul
@action_logging("variable.delete")
async def delete_variable(variable_key: str):
    def delete(session):
        return variables.delete_variable(session, variable_key)

    if not await group_committed(delete):
        raise not_found("Variable not found")
    return Response(status_code=204, media_type="text/html; charset=utf-8")
