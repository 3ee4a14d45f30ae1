"""/health and /version."""

from __future__ import annotations

from handlers._responses import json_response
from slipstream import __version__
from slipstream.api.http import current_settings
from slipstream.services.health import component_health

AIRFLOW_API_VERSION = "2.10.5"


def get_health():
    return json_response(component_health(current_settings().database_url))


def get_version():
    return json_response({"version": AIRFLOW_API_VERSION, "git_version": f"slipstream-{__version__}"})
