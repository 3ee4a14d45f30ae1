from slipstream.sdk.timetables import DatasetOrTimeSchedule

__all__ = ["DatasetOrTimeSchedule"]
