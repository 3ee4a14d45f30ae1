"""`macros` in templates and `airflow.macros` in DAG files: Airflow's names, this one module.

`random` is the function `random.random`, `datetime` and `timedelta` the classes, as in Airflow.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from random import random
from typing import Any

import dateutil
import dateutil.parser
import dateutil.relativedelta


def ds_add(ds: str, days: int) -> str:
    """`ds_add("2015-01-01", 5)` is "2015-01-06"; negative days go back."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: `ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")` is "01-01-15"."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: Any, since: Any = None) -> str:
    """ "2 hours ago" and the like, between dt and since (or now)."""
    import pendulum

    return pendulum.instance(dt).diff_for_humans(since)


__all__ = [
    "datetime",
    "datetime_diff_for_humans",
    "dateutil",
    "ds_add",
    "ds_format",
    "json",
    "random",
    "time",
    "timedelta",
    "uuid",
]
