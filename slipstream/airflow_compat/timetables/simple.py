from slipstream.sdk.timetables import DatasetTriggeredTimetable, NullTimetable, OnceTimetable

__all__ = ["DatasetTriggeredTimetable", "NullTimetable", "OnceTimetable"]
