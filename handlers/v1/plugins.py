"""/plugins: the plugins Slipstream loads (its own, then the plugins folder's)."""

from __future__ import annotations

import asyncio

from handlers._responses import json_response
from handlers.v1._bodies import page_offset
from handlers.v1._pagination import page_limit
from slipstream.api.http import current_settings
from slipstream.plugins import plugins_folder
from slipstream.services import plugins


async def get_plugins(limit: int | None = None, offset: int = 0):
    size, start = page_limit(limit), page_offset(offset)
    timeout = current_settings().dag_file_processor_timeout
    # The folder's files are imported in a child process; waiting for it must not hold the event loop.
    found = await asyncio.to_thread(plugins.list_plugins, plugins_folder(), timeout)
    return json_response({"plugins": found[start : start + size], "total_entries": len(found)})
