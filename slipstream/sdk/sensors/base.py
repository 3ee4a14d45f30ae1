"""BaseSensorOperator (task-model-semantics §9): poke until done, in poke or reschedule mode.

Poke mode sleeps between pokes inside one try. Reschedule mode ends the try between pokes: it raises
AirflowRescheduleException, the task runner records a `task_reschedule` row and sets the instance
`up_for_reschedule` (same try, no pool or executor slot held), and the scheduler starts it again at
the reschedule date. Its timeout counts from the first reschedule of the current retry sequence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from typing import Any

from slipstream.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)
from slipstream.sdk.operators import BaseOperator

log = logging.getLogger(__name__)

VALID_MODES = ("poke", "reschedule")
# [sensors] default_timeout: a week.
DEFAULT_SENSOR_TIMEOUT = 60 * 60 * 24 * 7


class PokeReturnValue:
    """What `poke` may return instead of a bool: whether it is done, and an XCom value for when it is."""

    def __init__(self, is_done: bool, xcom_value: Any | None = None) -> None:
        self.xcom_value = xcom_value
        self.is_done = is_done

    def __bool__(self) -> bool:
        return self.is_done


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AirflowException(f"Operator arg `{name}` must be timedelta object or a non-negative number")
    return float(value)


class BaseSensorOperator(BaseOperator):
    ui_color = "#e6f1f2"
    valid_modes = VALID_MODES

    def __init__(
        self,
        *,
        poke_interval: dt.timedelta | float = 60,
        timeout: dt.timedelta | float = DEFAULT_SENSOR_TIMEOUT,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: dt.timedelta | float | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval")
        self.timeout = _seconds(timeout, "timeout")
        self.soft_fail = soft_fail
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = None if max_wait is None else _seconds(max_wait, "max_wait")
        if soft_fail and never_fail:
            raise ValueError("soft_fail and never_fail are mutually exclusive, you can not provide both.")
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        if mode not in self.valid_modes:
            dag_id = self.dag.dag_id if self.dag is not None else None
            raise AirflowException(
                f"The mode must be one of {list(self.valid_modes)},'{dag_id}.{self.task_id}'; received '{mode}'."
            )

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        raise AirflowException("Override me.")

    # -- the loop ---------------------------------------------------------------------------------
    def execute(self, context: dict[str, Any]) -> Any:
        if self.reschedule:
            first, earlier_pokes = _first_reschedule(context, self.retries)
            started_at = first or _utcnow()
            poke_count = earlier_pokes + 1

            def run_duration() -> float:
                return (_utcnow() - started_at).total_seconds()
        else:
            started_at = _utcnow()
            start_monotonic = time.monotonic()
            poke_count = 1

            def run_duration() -> float:
                return time.monotonic() - start_monotonic

        xcom_value = None
        while True:
            result = self._poke_once(context)
            if isinstance(result, PokeReturnValue):
                if result.is_done:
                    xcom_value = result.xcom_value
                    break
            elif result:
                break
            elapsed = run_duration()
            if elapsed > self.timeout:
                message = (
                    f"Sensor has timed out; run duration of {elapsed} seconds exceeds the specified timeout of "
                    f"{self.timeout}."
                )
                if self.soft_fail:
                    raise AirflowSkipException(message)
                raise AirflowSensorTimeout(message)
            interval = self._get_next_poke_interval(started_at, run_duration, poke_count)
            if self.reschedule:
                raise AirflowRescheduleException(_utcnow() + dt.timedelta(seconds=interval))
            time.sleep(interval)
            poke_count += 1
        log.info("Success criteria met. Exiting.")
        return xcom_value

    def _poke_once(self, context: dict[str, Any]) -> Any:
        try:
            return self.poke(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
            if self.soft_fail:
                raise AirflowSkipException("Skipping due to soft_fail is set to True.") from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if self.silent_fail:
                log.error("Sensor poke failed: \n %s", exc)
                return False
            if self.never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
            raise

    def _get_next_poke_interval(self, started_at: dt.datetime, run_duration: Any, poke_count: int) -> float:
        if not self.exponential_backoff:
            return self.poke_interval
        # Airflow's formula: a deterministic spread in [m, 2m) so sensors started together drift apart.
        minimum = max(int(self.poke_interval * (2 ** (poke_count - 2))), 1)
        key = f"{self.dag_id}#{self.task_id}#{started_at}#{poke_count}"
        spread = int(hashlib.sha1(key.encode()).hexdigest(), 16) % minimum
        interval = float(minimum + spread)
        remaining = self.timeout - int(run_duration())
        if remaining < 0:
            remaining = 0
        interval = min(interval, remaining) if remaining else interval
        if self.max_wait is not None:
            interval = min(interval, self.max_wait)
        return interval


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _first_reschedule(context: dict[str, Any], retries: int | None) -> tuple[dt.datetime | None, int]:
    """The start of the first reschedule in this retry sequence, and how many reschedules there were."""
    from sqlalchemy import func, select

    from slipstream.sdk import runtime
    from slipstream.storage.models import TaskReschedule

    ti = context["ti"]
    first_try = (ti.max_tries or 0) - (retries or 0) + 1
    with runtime.read_session() as session:
        first, count = session.execute(
            select(func.min(TaskReschedule.start_date), func.count()).where(
                TaskReschedule.dag_id == ti.dag_id,
                TaskReschedule.run_id == ti.run_id,
                TaskReschedule.task_id == ti.task_id,
                TaskReschedule.map_index == ti.map_index,
                TaskReschedule.try_number >= first_try,
            )
        ).one()
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=dt.UTC)
    return first, int(count or 0)


def poke_mode_only(cls: type) -> type:
    """Class decorator: the sensor supports only mode="poke"."""
    cls.valid_modes = ("poke",)
    return cls


__all__ = ["BaseSensorOperator", "PokeReturnValue", "poke_mode_only"]
