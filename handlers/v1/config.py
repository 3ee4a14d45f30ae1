"""/config and /config/section/{section}/option/{option}: Slipstream's settings, if they are exposed."""

from __future__ import annotations

import orjson
from connexion.context import scope
from starlette.datastructures import Headers
from starlette.responses import Response

from slipstream.api.http import current_settings
from slipstream.api.v1_problems import not_found, permission_denied
from slipstream.services import configuration

_MEDIA_TYPES = ("text/plain", "application/json")
NOT_EXPOSED = "Your Airflow administrator chose not to expose the configuration, most likely for security reasons."


def _best_match(accept: str | None) -> str | None:
    """Werkzeug's best_match over text/plain and application/json, as Airflow negotiates: the highest
    quality wins, the more specific range on a tie; no Accept header matches nothing."""
    best, best_quality, best_specificity = None, 0.0, -1
    for part in (accept or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in pieces[1:]:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        for offered in _MEDIA_TYPES:
            kind, _, sub = offered.partition("/")
            if media == offered:
                specificity = 2
            elif media == f"{kind}/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            if quality > best_quality or (quality == best_quality and specificity > best_specificity):
                best, best_quality, best_specificity = offered, quality, specificity
    return best


def _negotiated() -> str | None:
    return _best_match(Headers(scope=scope).get("accept"))


def _exposure() -> tuple[bool, bool]:
    """(exposed, display_sensitive)."""
    setting = current_settings().expose_config
    if setting == configuration.EXPOSE_NON_SENSITIVE:
        return True, False
    return setting in ("true", "1", "yes", "on", "t", "y"), True


def _answer(sections: list, media_type: str) -> Response:
    # Exactly the negotiated type, without a charset, as Airflow sets it.
    if media_type == "text/plain":
        text = configuration.config_as_text(sections).encode()
        return Response(text, headers={"content-type": "text/plain"})
    body = orjson.dumps({"sections": sections}, option=orjson.OPT_INDENT_2)
    return Response(body, headers={"content-type": "application/json"})


def _not_acceptable() -> Response:
    return Response(b"", status_code=406, media_type="text/html; charset=utf-8")


def get_config(section: str | None = None):
    media_type = _negotiated()
    exposed, display_sensitive = _exposure()
    if media_type is None:
        return _not_acceptable()
    if not exposed:
        raise permission_denied(NOT_EXPOSED, title="Forbidden")
    settings = current_settings()
    if section is not None and not configuration.has_section(settings, section):
        raise not_found("section not found.", f"section={section} not found.")
    sections = configuration.config_sections(settings, display_sensitive=display_sensitive, section=section)
    return _answer(sections, media_type)


def get_value(section: str, option: str):
    media_type = _negotiated()
    exposed, _ = _exposure()
    if media_type is None:
        return _not_acceptable()
    if not exposed:
        raise permission_denied(NOT_EXPOSED, title="Forbidden")
    value = configuration.option_value(current_settings(), section, option)
    if value is None:
        raise not_found("Config not found.", f"The option [{section}/{option}] is not found in config.")
    return _answer([{"name": section, "options": [{"key": option, "value": value}]}], media_type)
