"""How an XCom value becomes stored JSON and comes back, with Airflow 2.10's rules (no pickling).

JSON values are stored as they are (dict keys become strings). Beyond JSON: a top-level tuple, sets
at any depth, datetimes, dates, timedeltas, Decimals and time zones are stored tagged with
`__classname__`/`__version__`/`__data__`, as Airflow's serde does, and come back as themselves. A
nested tuple becomes a list (JSON's own rule). Anything else is refused with Airflow's TypeError.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from typing import Any

import pendulum

CLASSNAME, VERSION, DATA = "__classname__", "__version__", "__data__"


def _tag(classname: str, data: Any, version: int = 1) -> dict[str, Any]:
    return {CLASSNAME: classname, VERSION: version, DATA: data}


def _encode_special(value: Any) -> dict[str, Any]:
    if isinstance(value, (set, frozenset)):
        return _tag(f"builtins.{type(value).__name__}", [encode(v) for v in value])
    if isinstance(value, tuple):
        return _tag("builtins.tuple", [encode(v) for v in value])
    if isinstance(value, dt.datetime):
        classname = "pendulum.datetime.DateTime" if isinstance(value, pendulum.DateTime) else "datetime.datetime"
        tz = value.tzinfo
        zone = None if tz is None else getattr(tz, "name", None) or str(value.utcoffset())
        return _tag(
            classname, {"timestamp": value.timestamp() if tz else None, "iso": value.isoformat(), "tz": zone}, 2
        )
    if isinstance(value, dt.date):
        return _tag("datetime.date", value.isoformat())
    if isinstance(value, dt.timedelta):
        return _tag("datetime.timedelta", value.total_seconds())
    if isinstance(value, decimal.Decimal):
        return _tag("decimal.Decimal", str(value))
    if isinstance(value, dt.tzinfo):
        return _tag("pendulum.tz.timezone.Timezone", getattr(value, "name", None) or str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return _tag(f"{cls.__module__}.{cls.__qualname__}", encode(dataclasses.asdict(value)))
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode(value: Any) -> Any:
    """A JSON-ready structure for `value` (tuples kept only at the top, by the caller)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        if CLASSNAME in value:
            raise AttributeError(f"reserved key {CLASSNAME} found in dict to serialize")
        return {str(k) if not isinstance(k, str) else k: encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return [encode(v) for v in value]  # nested: a list, as json.dumps writes it
    return _encode_special(value)


def serialize(value: Any) -> str:
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return json.dumps(_encode_special(value))
    return json.dumps(encode(value))


def _decode_tagged(value: dict[str, Any]) -> Any:
    classname, data = value[CLASSNAME], value.get(DATA)
    if classname in ("builtins.set", "builtins.frozenset"):
        items = {decode(v) for v in data}
        return items if classname == "builtins.set" else frozenset(items)
    if classname == "builtins.tuple":
        return tuple(decode(v) for v in data)
    if classname in ("pendulum.datetime.DateTime", "datetime.datetime"):
        parsed = dt.datetime.fromisoformat(data["iso"])
        if classname.startswith("pendulum") and parsed.tzinfo is not None:
            zone = data.get("tz")
            try:
                return pendulum.instance(parsed).in_timezone(zone) if zone else pendulum.instance(parsed)
            except Exception:  # an offset-only zone: keep the offset
                return pendulum.instance(parsed)
        return parsed
    if classname == "datetime.date":
        return dt.date.fromisoformat(data)
    if classname == "datetime.timedelta":
        return dt.timedelta(seconds=data)
    if classname == "decimal.Decimal":
        return decimal.Decimal(data)
    if classname == "pendulum.tz.timezone.Timezone":
        return pendulum.timezone(data)
    raise ImportError(
        f"{classname} was not found in allow list for deserialization imports. To allow it, add it to "
        "allowed_deserialization_classes in the configuration"
    )


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if CLASSNAME in value and DATA in value:
            return _decode_tagged(value)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def deserialize(text: str | None) -> Any:
    if text is None:
        return None
    return decode(json.loads(text))
