from slipstream.sdk.timetables import CronTriggerTimetable

__all__ = ["CronTriggerTimetable"]
