"""JSON columns are written with orjson where it writes what json.dumps means, and read back as json.loads reads."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from slipstream.storage.db import _json_dumps, _json_loads
from slipstream.storage.models import DagModel, DagRun

VALUES = [
    {},
    {"a": [1, 2.5, -0.0, True, False, "é✓"], "nested": {"k": {"deep": [[]]}}},
    {"big": 2**64, "small": -(2**63) - 1},  # past 64 bits: orjson refuses, json.dumps writes them
    {"edge": 2**64 - 1, "low": -(2**63)},  # the last integers orjson writes itself
    {"none": None},  # a null in the text: json.dumps writes it
    {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},  # orjson would write these as null
    {"surrogate": "\ud800"},  # a lone surrogate: orjson refuses
    ["list", 1, 1e300],
    "just a string",
    12345678901234567890,
]


def _same(a, b) -> bool:
    """Equal as json.dumps writes them (NaN is not equal to itself; 2**64 must stay an int)."""
    return json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_what_is_read_back_is_what_json_would_read_back(value):
    text = _json_dumps(value)
    assert _same(_json_loads(text), json.loads(json.dumps(value)))
    assert _same(json.loads(text), value)  # the stored text is standard JSON for the json module too


def test_orjson_writes_the_common_case_compactly():
    assert _json_dumps({"run_id": "r", "execution_date": "2024-01-01T00:00:00+00:00"}) == (
        '{"run_id":"r","execution_date":"2024-01-01T00:00:00+00:00"}'
    )


def test_a_conf_past_64_bits_round_trips_through_the_database(session):
    conf = {"big": 2**64, "list": [None, -(2**70)], "text": "é"}
    session.add(DagModel(dag_id="d"))
    session.add(DagRun(dag_id="d", run_id="r", execution_date=datetime.now(UTC), conf=conf))
    session.commit()
    stored = session.scalar(select(DagRun.conf).where(DagRun.run_id == "r").execution_options(populate_existing=True))
    assert _same(stored, conf)
    assert isinstance(stored["big"], int) and isinstance(stored["list"][1], int)
