"""GET /test, /info and /latest_runs."""

from __future__ import annotations

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from slipstream import __version__
from slipstream.services import dag_runs


async def get_test():
    return json_response({"status": "OK"})


def get_info():
    return json_response({"version": __version__})


@database_read
def get_latest_runs():
    with reading() as session:
        return json_response({"items": dag_runs.latest_runs(session)})
