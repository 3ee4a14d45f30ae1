from slipstream.sdk.workday import AfterWorkdayTimetable, WorkdayTimetablePlugin

__all__ = ["AfterWorkdayTimetable", "WorkdayTimetablePlugin"]
