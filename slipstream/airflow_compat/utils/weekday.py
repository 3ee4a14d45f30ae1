from slipstream.sdk.weekday import WeekDay

__all__ = ["WeekDay"]
