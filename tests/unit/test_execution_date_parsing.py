"""The canonical-form fast path of parse_execution_date reads every date exactly as pendulum does."""

from __future__ import annotations

import random
import re
from datetime import datetime

import pytest

from slipstream import dates
from slipstream.errors import BadRequest

EDGES = [
    "2022-01-01T00:00:05+00:00", "2022-01-01T00:00:05Z", "2022-01-01T00:00:05.123456+05:30",
    "2022-01-01T00:00:05.000000+00:00", "2022-01-01T00:00:05-23:59", "2024-02-29T12:00:00+00:00",
    "2023-02-29T12:00:00+00:00", "2022-02-30T00:00:05+00:00", "2022-13-01T00:00:00+00:00",
    "2022-01-01T24:00:00+00:00", "2022-01-01T00:00:60+00:00", "2022-01-01T00:00:05+24:00",
    "2022-01-01T00:00:05+23:60", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59.999999-01:00", "9999-12-31T23:59:59.999999+01:00", "0000-01-01T00:00:00+00:00",
]  # fmt: skip


def _read(raw: str, monkeypatch, fast: bool):
    if not fast:
        monkeypatch.setattr(dates, "_CANONICAL", re.compile("(?!)"))  # never matches: pendulum for all
    try:
        value = dates.parse_execution_date(raw)
        return value, value.utcoffset()
    except BadRequest as exc:
        return "400", exc.message
    finally:
        monkeypatch.undo()


def _random_canonical(rng: random.Random) -> str:
    fraction = rng.choice(["", f".{rng.randrange(10**6):06d}"])
    zone = rng.choice(["Z", f"{rng.choice('+-')}{rng.randrange(30):02d}:{rng.randrange(62):02d}"])
    return (
        f"{rng.randrange(10000):04d}-{rng.randrange(14):02d}-{rng.randrange(33):02d}"
        f"T{rng.randrange(26):02d}:{rng.randrange(62):02d}:{rng.randrange(62):02d}{fraction}{zone}"
    )


@pytest.mark.parametrize("raw", EDGES + [_random_canonical(random.Random(seed)) for seed in range(300)])
def test_fast_path_agrees_with_pendulum(raw, monkeypatch):
    assert dates._CANONICAL.fullmatch(raw)
    assert _read(raw, monkeypatch, fast=True) == _read(raw, monkeypatch, fast=False)


def test_the_fast_path_gives_the_clients_offset():
    value = dates.parse_execution_date("2022-01-01T00:00:05.123456+05:30")
    assert value == datetime.fromisoformat("2021-12-31T18:30:05.123456+00:00")
    assert str(value) == "2022-01-01 00:00:05.123456+05:30"
