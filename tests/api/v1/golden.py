"""Real Airflow 2.10.5's answers to /api/v1 (../shared/docs/airflow-v1-golden), for field-by-field checks.

`exchange(seq)` is one recorded request and answer; `assert_matches_golden(body, seq)` compares an answer
of ours with Airflow's, leaving out the values the recording marks volatile (dates, ids, hosts) but
keeping their presence and type. The shared docs sit beside the checkout, in CI too.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "docs" / "airflow-v1-golden"


@functools.cache
def _exchanges() -> dict[int, dict[str, Any]]:
    if not GOLDEN_DIR.is_dir():
        pytest.skip(f"the golden transcripts are not at {GOLDEN_DIR}")
    found: dict[int, dict[str, Any]] = {}
    for path in sorted(GOLDEN_DIR.glob("*.json")):
        for entry in json.loads(path.read_text()):
            found[entry["seq"]] = entry
    return found


def exchange(seq: int) -> dict[str, Any]:
    return _exchanges()[seq]


def _volatile_patterns(entry: dict[str, Any]) -> list[re.Pattern[str]]:
    patterns = []
    for path in entry.get("notes", {}).get("volatile", []):
        regex = re.escape(path).replace(r"\[\*\]", r"\[\d+\]")
        patterns.append(re.compile("^" + regex + "$"))
    return patterns


def _compare(ours: Any, theirs: Any, where: str, volatile: list[re.Pattern[str]], problems: list[str]) -> None:
    if any(pattern.match(where) for pattern in volatile):
        if (ours is None) != (theirs is None) and theirs is not None:
            problems.append(f"{where}: ours is {ours!r}, Airflow's is set ({theirs!r})")
        return
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours)):
            if key not in ours:
                problems.append(f"{where}.{key}: missing (Airflow: {theirs[key]!r})")
            elif key not in theirs:
                problems.append(f"{where}.{key}: not in Airflow's answer (ours: {ours[key]!r})")
            else:
                _compare(ours[key], theirs[key], f"{where}.{key}", volatile, problems)
    elif isinstance(theirs, list) and isinstance(ours, list):
        if len(ours) != len(theirs):
            problems.append(f"{where}: {len(ours)} items, Airflow has {len(theirs)}")
            return
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _compare(a, b, f"{where}[{index}]", volatile, problems)
    elif ours != theirs:
        problems.append(f"{where}: ours is {ours!r}, Airflow's is {theirs!r}")


def differences(body: Any, seq: int, *, also_volatile: tuple[str, ...] = ()) -> list[str]:
    """Where `body` differs from Airflow's answer `seq`; `also_volatile` adds paths (`$.a[*].b`) to skip."""
    entry = exchange(seq)
    volatile = _volatile_patterns(entry) + _volatile_patterns({"notes": {"volatile": list(also_volatile)}})
    problems: list[str] = []
    _compare(body, entry["response"]["body"], "$", volatile, problems)
    return problems


def assert_matches_golden(body: Any, seq: int, *, also_volatile: tuple[str, ...] = ()) -> None:
    problems = differences(body, seq, also_volatile=also_volatile)
    assert not problems, f"answer differs from Airflow's (golden seq {seq}):\n  " + "\n  ".join(problems)
