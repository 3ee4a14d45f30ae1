"""Airflow provider packages installed in Slipstream's Python environment (`apache-airflow-providers-*`).

Slipstream bundles none and loads none of their hooks or operators; the list says what is there, so a
client asking what a deployment offers gets an honest answer: usually nothing.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

_PREFIX = "apache-airflow-providers-"
_RST_LINK = re.compile(r"`(.*?)\s+<(.*?)>`__")


def _plain(text: str) -> str:
    """Airflow's _remove_rst_syntax: `Name <url>`__ becomes "Name url"."""
    return _RST_LINK.sub(r"\1 \2", text).strip()


def installed_providers() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for distribution in metadata.distributions():
        name = (distribution.metadata.get("Name") or "").strip()
        normalized = name.lower().replace("_", "-").replace(".", "-")
        if not normalized.startswith(_PREFIX) or normalized in found:
            continue
        found[normalized] = {
            "description": _plain(distribution.metadata.get("Summary") or ""),
            "package_name": normalized,
            "version": distribution.version,
        }
    return [found[name] for name in sorted(found)]
