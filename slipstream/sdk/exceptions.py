"""Exceptions a task or DAG file may raise, named as in Airflow so ported DAG files keep working."""


class AirflowException(Exception):
    """A task failure that may be retried."""

    status_code = 500


class AirflowBadRequest(AirflowException):
    status_code = 400


class AirflowNotFoundException(AirflowException):
    status_code = 404


class AirflowConfigException(AirflowException):
    """A setting is missing or wrong."""


class AirflowSkipException(AirflowException):
    """Ends the task instance `skipped`."""


class AirflowFailException(AirflowException):
    """Ends the task instance `failed` without retrying."""


class AirflowTaskTimeout(AirflowException):
    """Raised in the task when its execution_timeout runs out."""


class AirflowSensorTimeout(AirflowFailException):
    """A sensor waited past its timeout: the task fails without retrying."""


class AirflowRescheduleException(AirflowException):
    """A reschedule-mode sensor ends this try until `reschedule_date`."""

    def __init__(self, reschedule_date):
        super().__init__()
        self.reschedule_date = reschedule_date


class TaskDeferred(BaseException):
    """Raised by `BaseOperator.defer`: the try ends `deferred` until its trigger fires."""

    def __init__(self, *, trigger, method_name: str, kwargs=None, timeout=None):
        super().__init__()
        import datetime

        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout
        if timeout is not None and not isinstance(timeout, datetime.timedelta):
            raise ValueError("Timeout value must be a timedelta")

    def __repr__(self) -> str:
        return f"<TaskDeferred trigger={self.trigger} method={self.method_name}>"


class TaskDeferralError(AirflowException):
    """A deferred task could not resume: its trigger failed or timed out."""


class AirflowTaskTerminated(BaseException):
    """The task process was told to stop."""


class AirflowDagCycleException(AirflowException):
    """The DAG's dependencies form a cycle."""


class AirflowDagDuplicatedIdException(AirflowException):
    """The same dag_id was defined twice."""


class DuplicateTaskIdFound(AirflowException):
    """A task id was added to a DAG twice."""


class TaskAlreadyInTaskGroup(AirflowException):
    """A task was added to a second task group."""


class AirflowClusterPolicyViolation(AirflowException):
    """A cluster policy refused the DAG or task."""


class ParamValidationError(AirflowException):
    """A Param's value breaks its schema."""


class DagRunAlreadyExists(AirflowBadRequest):
    """A run with that id or logical date exists."""


class DagNotFound(AirflowNotFoundException):
    pass


class TaskNotFound(AirflowNotFoundException):
    pass


class XComNotFound(AirflowException):
    """An XComArg's value was not pushed."""

    def __init__(self, dag_id: str, task_id: str, key: str):
        super().__init__()
        self.dag_id, self.task_id, self.key = dag_id, task_id, key

    def __str__(self) -> str:
        return f'XComArg result from {self.task_id} at {self.dag_id} with key="{self.key}" is not found!'


class RemovedInAirflow3Warning(DeprecationWarning):
    """What Airflow 2 warns for names it drops in Airflow 3."""


SkipException = AirflowSkipException
FailException = AirflowFailException


class AirflowTimetableInvalid(AirflowException):
    """A timetable that cannot schedule anything (a bad cron, a delta that is not positive)."""
