from slipstream.sdk.macros import (
    datetime,
    datetime_diff_for_humans,
    dateutil,
    ds_add,
    ds_format,
    json,
    random,
    time,
    timedelta,
    uuid,
)

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
