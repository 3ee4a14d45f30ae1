"""/providers: the Airflow provider packages installed beside Slipstream (it bundles none)."""

from __future__ import annotations

from handlers._responses import json_response
from slipstream.services.providers import installed_providers


def get_providers():
    found = installed_providers()
    return json_response({"providers": found, "total_entries": len(found)})
