"""`airflow.timetables`: the timetable modules below."""
