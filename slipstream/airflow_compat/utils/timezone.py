from slipstream.sdk.timezone import (
    coerce_datetime,
    convert_to_utc,
    datetime,
    is_localized,
    is_naive,
    make_aware,
    make_naive,
    parse,
    utc,
    utc_epoch,
    utcnow,
)

__all__ = [
    "coerce_datetime",
    "convert_to_utc",
    "datetime",
    "is_localized",
    "is_naive",
    "make_aware",
    "make_naive",
    "parse",
    "utc",
    "utc_epoch",
    "utcnow",
]
