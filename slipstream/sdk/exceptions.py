"""Exceptions a task may raise, named as in Airflow so ported DAG files keep working."""


class AirflowException(Exception):
    """A task failure that may be retried."""


class AirflowSkipException(AirflowException):
    """Ends the task instance `skipped`."""


class AirflowFailException(AirflowException):
    """Ends the task instance `failed` without retrying."""


class AirflowTaskTimeout(AirflowException):
    """Raised in the task when its execution_timeout runs out."""


SkipException = AirflowSkipException
FailException = AirflowFailException
