"""GET /health (no auth, outside the experimental API)."""

from __future__ import annotations

from handlers._responses import json_response
from slipstream.api.http import current_settings
from slipstream.services.health import check_health


def get_health():
    database_ok, report = check_health(current_settings().database_url)
    return json_response(report, status=200 if database_ok else 503)
