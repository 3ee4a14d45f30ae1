"""Running one try of one task instance, in its own process forked by the fork server.

The fork server supervises the try (slipstream.scheduler.supervision): it claims it (queued ->
running) and sends this process a "go" with what the context needs, heartbeats it, and records
the outcome this process reports over their socket. If the fork server goes away, this process
carries on alone: it heartbeats and records its outcome in the database itself.

Here: import the DAG file (already imported in the fork server, usually), render templates,
export AIRFLOW_CTX_*, execute with execution_timeout, and map the outcome: success, skipped,
up_for_retry or failed. Output goes to the try's log file.
"""

from __future__ import annotations

import getpass
import io
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update

from slipstream.config import Settings
from slipstream.dates import utcnow
from slipstream.scheduler import callbacks, waiting
from slipstream.scheduler.context import (
    DagRunView,
    PreviousSuccess,
    TaskInstanceView,
    as_pendulum,
    build_context,
    context_environment,
)
from slipstream.scheduler.dag_files import DagFileCache, add_to_sys_path, find_dag, import_dag_file
from slipstream.scheduler.expansion import record_task_map
from slipstream.scheduler.logs import log_line, log_path
from slipstream.scheduler.masking import MaskingStream
from slipstream.scheduler.retries import RetryPolicy, failure_values
from slipstream.scheduler.supervision import FAILURE_STATES, end_restarted_try
from slipstream.scheduler.templating import dag_environment, make_environment, render_template_fields, render_value
from slipstream.scheduler.transitions import set_ti_state
from slipstream.scheduler.write_lock import write_session
from slipstream.sdk import metastore, runtime
from slipstream.sdk.dataset_events import dataset_context, produced_events
from slipstream.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferred,
)
from slipstream.sdk.mapping import has_mapped_dependants, task_map_of  # loaded once, in the fork server
from slipstream.sdk.metastore import bind_task_process
from slipstream.sdk.xcom import result_xcoms, store_xcoms
from slipstream.services.audit import record_try_event
from slipstream.services.datasets import record_dataset_events
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.db import get_engine, session_scope
from slipstream.storage.models import TaskInstance

HOSTNAME = socket.getfqdn()
try:
    UNIXNAME = getpass.getuser()
except Exception:  # no passwd entry (some containers)
    UNIXNAME = str(os.getuid())

_DATE_KEYS = frozenset(
    {
        "start_date",
        "end_date",
        "execution_date",
        "data_interval_start",
        "data_interval_end",
        "queued_at",
        "next_retry_at",
        "trigger_timeout",
    }
)


class TaskTerminated(BaseException):
    """The task process received SIGTERM (scheduler shutdown, or its state was changed under it)."""


@contextmanager
def execution_timeout(seconds: float | None) -> Iterator[None]:
    """SIGALRM raises AirflowTaskTimeout in the task after `seconds` (None: no limit)."""
    if not seconds or seconds <= 0:
        yield
        return

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise AirflowTaskTimeout(f"Timeout, PID: {os.getpid()}")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y%m%dT%H%M%S") if value is not None else ""


def _date(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Channel:
    """Newline-delimited JSON over a socket: between the fork server and one task process."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> bool:
        data = orjson.dumps(message, default=str) + b"\n"
        try:
            with self.lock:
                self.sock.sendall(data)
            return True
        except OSError:
            return False

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None when the other side is gone."""
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return orjson.loads(line)


def decode_dates(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _date(v) if k in _DATE_KEYS else v for k, v in data.items()}


class TaskRunner:
    def __init__(
        self,
        settings: Settings,
        request: dict[str, Any],
        dag_cache: DagFileCache | None = None,
        channel: Channel | None = None,
    ):
        self.settings = settings
        self.request = request
        self.dag_cache = dag_cache
        self.channel = channel
        self.ti_id: int = request["ti_id"]
        self.try_number: int = request["try_number"]
        self.dag_id: str = request["dag_id"]
        self.task_id: str = request["task_id"]
        self.run_id: str = request["run_id"]
        self.fileloc: str = request.get("fileloc") or ""
        self.retry = RetryPolicy(**(request.get("retry") or {}))
        self.lineage: dict[str, Any] | None = request.get("lineage")
        self.rendered_fields: dict[str, Any] | None = None
        # Set when the fork server is gone: from then on this process writes to the database itself.
        self.alone = threading.Event()
        self.finishing = threading.Event()
        self.log_file = log_path(
            settings.logs_folder, self.dag_id, self.run_id, self.task_id, self.try_number, request.get("map_index", -1)
        )
        self.task: Any = None
        self.context: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.skipped_by_exception = False
        self.result_xcoms: list[tuple[str, str]] = []
        # A resumed deferred try: the method to call instead of execute, and its kwargs.
        self.next_method: str | None = None
        self.next_kwargs: Any = None
        self.waiting_values: dict[str, Any] = {}  # columns of an up_for_reschedule or deferred outcome
        self.dataset_events: list[dict[str, Any]] = []
        self.map_index: int = request.get("map_index", -1)
        self.task_map: dict[str, Any] | None = None  # the return value's length, for mapped dependants
        self.rendered_map_index: str | None = None
        self.execution_date: datetime | None = None  # the run's, once the fork server sent it
        self.terminated = False  # SIGTERM received: the supervisor (or a user) stopped the try

    # -- output ---------------------------------------------------------------------------------
    def redirect_output(self) -> None:
        """stdout and stderr of this process (and of anything it starts) go to the try's log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = io.TextIOWrapper(
            os.fdopen(1, "wb", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        sys.stderr = io.TextIOWrapper(
            os.fdopen(2, "wb", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        # Secrets the task fetches (connection passwords, sensitive variables) are written as ***.
        sys.stdout, sys.stderr = MaskingStream(sys.stdout), MaskingStream(sys.stderr)
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    def log(self, message: str, level: str = "INFO") -> None:
        sys.stdout.write(log_line(message, level))
        sys.stdout.flush()

    def log_exception(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
        self.log(f"Task failed with exception\n{text}", "ERROR")

    # -- the try ----------------------------------------------------------------------------------
    def run(self) -> int:
        """Returns the process exit code: 0 when the try's outcome was handed over or recorded."""
        go = self.channel.receive() if self.channel is not None else None
        if go is None:
            self.log("The fork server went away before this try was claimed; not running it.", "WARNING")
            return 0
        if go.get("op") != "go":
            self.log(go.get("reason") or "The fork server did not let this try run.", "WARNING")
            return 0
        started = _date(go["start_date"])
        ti_row = go["ti"]
        run_row = decode_dates(go["run"])
        self.execution_date = run_row["execution_date"]
        previous = PreviousSuccess(*[_date(v) for v in go["previous_success"]]) if go["previous_success"] else None
        max_tries = ti_row["max_tries"]
        self.next_method, self.next_kwargs = ti_row.get("next_method"), ti_row.get("next_kwargs")
        self.log(f"Starting attempt {self.try_number} of {max_tries + 1}")
        dag_run = DagRunView(
            dag_id=self.dag_id,
            run_id=self.run_id,
            conf=dict(run_row["conf"] or {}),
            logical_date=as_pendulum(run_row["execution_date"]),
            data_interval_start=as_pendulum(run_row["data_interval_start"]),
            data_interval_end=as_pendulum(run_row["data_interval_end"]),
            run_type=run_row["run_type"],
            external_trigger=bool(run_row["external_trigger"]),
            start_date=as_pendulum(run_row["start_date"]),
            queued_at=as_pendulum(run_row["queued_at"]),
        )
        ti = TaskInstanceView(
            dag_id=self.dag_id,
            task_id=self.task_id,
            run_id=self.run_id,
            map_index=self.request.get("map_index", -1),
            try_number=self.try_number,
            max_tries=max_tries,
            logical_date=dag_run.logical_date,
            start_date=as_pendulum(started),
            hostname=HOSTNAME,
            unixname=UNIXNAME,
            pid=os.getpid(),
            pool=ti_row["pool"],
            queue=ti_row["queue"],
            priority_weight=ti_row["priority_weight"],
            dag_run=dag_run,
        )
        threading.Thread(target=self._watch_fork_server, name="slipstream-task-watch", daemon=True).start()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.started = started
        outcome, allow_retry = self._execute(ti, dag_run, previous or PreviousSuccess())
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.finishing.set()
        restarting = self.terminated and outcome == TI.FAILED.value and self._cleared_while_running()
        values = self._outcome_values(
            outcome,
            allow_retry,
            started=started,
            max_tries=max_tries,
            logical_date=run_row["execution_date"],
            restarting=restarting,
        )
        new = values["state"]
        self._run_state_callbacks(new)
        self.log(
            f"Marking task as {new.upper()}. dag_id={self.dag_id}, task_id={self.task_id}, run_id={self.run_id}, "
            f"execution_date={_fmt(run_row['execution_date'])}, start_date={_fmt(started)}, "
            f"end_date={_fmt(values['end_date'])}"
        )
        if new == TI.UP_FOR_RETRY.value:
            self.log(f"Next try after {values['next_retry_at'].isoformat()}")
        if not self.alone.is_set() and self.channel.send({"op": "outcome", "values": values}):
            return 0
        return self._record_alone(values)

    def _run_state_callbacks(self, state: str) -> None:
        """The task's callback for how this try ended, with Airflow's context (and the exception)."""
        if self.task is None or self.context is None:
            return
        name = {
            TI.SUCCESS.value: "on_success_callback",
            TI.UP_FOR_RETRY.value: "on_retry_callback",
            TI.FAILED.value: "on_failure_callback",
            TI.SKIPPED.value: "on_skipped_callback" if self.skipped_by_exception else None,
        }.get(state)
        if name is None:
            return
        context = self.context
        if self.error is not None:
            context = {**context, "exception": self.error}
        context["ti"].state = state
        callbacks.run_task_callbacks(self.task, name, context, self.log)

    def _on_sigterm(self, _signum: int, _frame: Any) -> None:
        self.terminated = True
        raise TaskTerminated("Task received SIGTERM signal")

    def _cleared_while_running(self) -> bool:
        """Whether this try's SIGTERM came from a clear: its instance is restarting (then the try goes up
        for retry, with on_retry_callback, as Airflow's handle_failure of a restarting instance)."""
        self._forget_inherited_connections()
        try:
            with session_scope(self.settings.database_url, write=False) as session:
                state = session.scalar(
                    select(TaskInstance.state).where(
                        TaskInstance.id == self.ti_id, TaskInstance.try_number == self.try_number
                    )
                )
        except Exception as exc:  # the supervisor still ends a restarting try up for retry
            self.log(f"Could not read this instance's state: {exc}", "WARNING")
            return False
        return state == TI.RESTARTING.value

    def _load_dag(self):
        add_to_sys_path(self.settings.dags_folder)
        dags = self.dag_cache.get(self.fileloc) if self.dag_cache is not None else None
        if dags is None:
            _module, dags = import_dag_file(self.fileloc)
        return find_dag(dags, self.dag_id, self.fileloc)

    def _execute(self, ti: TaskInstanceView, dag_run: DagRunView, previous: PreviousSuccess) -> tuple[str, bool]:
        """Run the task; returns (success / skipped / failed, whether a failure may be retried)."""
        try:
            dag = self._load_dag()
            task = self.task = dag.get_task(self.task_id)
            ti.task = task
            if getattr(task, "mapping_spec", None) is not None:
                task = self.task = self._unmap(task, ti, dag_run, previous, dag)
            self.log(f"Executing {task!r} on {dag_run.logical_date}")
            self.log(f"Running {ti!r} on host {HOSTNAME}")
            context = self.context = build_context(
                dag=dag, task=task, ti=ti, dag_run=dag_run, previous_success=previous, settings=self.settings
            )
            if self.map_index >= 0:
                context["expanded_ti_count"] = getattr(task, "expanded_ti_count", None)
                context["map_index_template"] = getattr(task, "map_index_template", None)
            task.params = context["params"]  # as Airflow: the task runs with its merged, validated params
            context.update(dataset_context(task, dag_run))
            env = dag_environment(dag, os.path.dirname(self.fileloc))
            runtime.enter_task(
                context=context,
                max_xcom_bytes=self.settings.max_xcom_bytes,
                renderer=lambda value, template_ext: render_value(value, context, env, template_ext),
            )
            self.rendered_fields = render_template_fields(task, context, env)
            if self.channel is not None and not self.alone.is_set():
                self.channel.send({"op": "rendered", "fields": self.rendered_fields})
            ctx_env = context_environment(task, ti, dag_run)
            os.environ.update(ctx_env)
            exported = " ".join(f"{k}='{v}'" for k, v in ctx_env.items() if k.startswith("AIRFLOW_CTX_"))
            self.log(f"Exporting env vars: {exported}")
            timeout = task.execution_timeout.total_seconds() if isinstance(task.execution_timeout, timedelta) else None
            callbacks.run_task_callbacks(task, "on_execute_callback", context, self.log)
            try:
                with execution_timeout(timeout):
                    if getattr(task, "_pre_execute_hook", None) is not None:
                        task._pre_execute_hook(context)
                    result = waiting.execute_or_resume(task, context, self.next_method, self.next_kwargs)
                    if getattr(task, "_post_execute_hook", None) is not None:
                        task._post_execute_hook(context, result)
            except AirflowTaskTimeout:
                task.on_kill()
                raise
            if task.outlets:  # written with the success (task-model §13)
                self.dataset_events = produced_events(task.outlets, context["outlet_events"])
            self.task_map = self._task_map(dag, task, result)
            self.rendered_map_index = self._render_map_index(task, context, env, ti)
            xcoms = result_xcoms(task, ti, result)
            if xcoms and task.on_success_callback:
                # The success callback may pull this value: store it now, as Airflow has it by then.
                with metastore.write_session() as db:
                    store_xcoms(
                        db, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index, items=xcoms
                    )
            else:
                # Stored with the try's success, in the same transaction.
                self.result_xcoms = xcoms
            return TI.SUCCESS.value, True
        except AirflowSkipException as exc:
            self.log(str(exc) or "Task skipped")
            self.skipped_by_exception = True
            return TI.SKIPPED.value, True
        except AirflowRescheduleException as exc:
            self.waiting_values = waiting.reschedule_values(
                ti, started=self.started, now=utcnow(), reschedule_date=exc.reschedule_date
            )
            return TI.UP_FOR_RESCHEDULE.value, True
        except TaskDeferred as exc:
            self.log(f"Pausing task as DEFERRED. dag_id={self.dag_id}, task_id={self.task_id}, run_id={self.run_id}")
            self.waiting_values = waiting.deferral_values(self.task, exc, started=self.started, now=utcnow())
            return TI.DEFERRED.value, True
        except AirflowFailException as exc:
            self.error = exc
            self.log_exception(exc)
            return TI.FAILED.value, False
        except TaskTerminated:
            self.log("Received SIGTERM. Terminating subprocesses.", "ERROR")
            if self.task is not None:
                try:
                    self.task.on_kill()
                except Exception:
                    pass
            return TI.FAILED.value, True
        except SystemExit as exc:
            if exc.code in (None, 0):
                return TI.SUCCESS.value, True
            self.error = exc
            self.log_exception(exc)
            return TI.FAILED.value, True
        except BaseException as exc:
            self.error = exc
            self.log_exception(exc)
            return TI.FAILED.value, True

    # -- dynamic task mapping (slipstream.sdk.mapping) -----------------------------------------------
    def _unmap(self, mapped: Any, ti: TaskInstanceView, dag_run: DagRunView, previous: PreviousSuccess, dag: Any):
        """The real operator of this map index. Its arguments are XComs, a mapped group's arguments or a
        @dag function's parameters: what resolves them is all the context they get (the full context
        is built for the real operator)."""
        context = {"ti": ti, "task_instance": ti, "task": mapped, "dag": dag, "dag_run": dag_run, "params": dag.params}
        task = mapped.unmap(context, self.map_index)
        ti.task = task
        return task

    def _task_map(self, dag: Any, task: Any, result: Any) -> dict[str, Any] | None:
        """A producer that mapped tasks expand over records its return value's length, or fails."""
        if self.map_index >= 0 or not task.downstream_task_ids or not has_mapped_dependants(task):
            return None
        return task_map_of(result if task.do_xcom_push else None, self.settings.max_map_length)

    def _render_map_index(self, task: Any, context: dict[str, Any], env: Any, ti: TaskInstanceView) -> str | None:
        template = getattr(task, "map_index_template", None)
        if self.map_index < 0 or not template:
            return None
        # A PythonOperator's op_kwargs join the context as Airflow's context_merge does in execute.
        values = {**runtime.get_current_context(), **(getattr(task, "op_kwargs", None) or {})}
        return env.from_string(template).render(values)[:250]

    def _outcome_values(
        self,
        outcome: str,
        allow_retry: bool,
        *,
        started: datetime,
        max_tries: int,
        logical_date: datetime,
        restarting: bool = False,
    ) -> dict[str, Any]:
        """Column values for the outcome; a failure becomes up_for_retry or failed (handle_failure)."""
        now = utcnow()
        values: dict[str, Any] = {"end_date": now, "duration": (now - started).total_seconds(), "next_retry_at": None}
        if outcome in (TI.SUCCESS.value, TI.SKIPPED.value):
            values["state"] = outcome
        elif outcome in (TI.UP_FOR_RESCHEDULE.value, TI.DEFERRED.value):
            values.update(state=outcome, **self.waiting_values)
        else:
            values.update(
                failure_values(
                    self.retry,
                    dag_id=self.dag_id,
                    task_id=self.task_id,
                    execution_date=logical_date,
                    try_number=self.try_number,
                    max_tries=max_tries,
                    start_date=started,
                    now=now,
                    allow_retry=allow_retry,
                    restarting=restarting,
                )
            )
        if self.rendered_fields is not None:
            values["rendered_fields"] = self.rendered_fields
        if self.result_xcoms and values["state"] == TI.SUCCESS.value:
            values["xcoms"] = self.result_xcoms
        if self.dataset_events and values["state"] == TI.SUCCESS.value:
            values["dataset_events"] = self.dataset_events
        if self.task_map is not None and values["state"] == TI.SUCCESS.value:
            values["task_map"] = self.task_map
        if self.rendered_map_index is not None:
            values["rendered_map_index"] = self.rendered_map_index
        if self.task is not None and self.lineage and (self.lineage.get("inlets") or self.lineage.get("outlets")):
            values["lineage"] = self.lineage
        return values

    # -- without the fork server ----------------------------------------------------------------------
    def _watch_fork_server(self) -> None:
        """Block on the socket; if the fork server goes away, heartbeat alone until the try ends."""
        while self.channel.receive() is not None:
            pass
        if self.finishing.is_set():
            return
        self.alone.set()
        self.log("The fork server went away; this process records its own heartbeat and outcome.", "WARNING")
        self._forget_inherited_connections()
        interval = max(0.05, self.settings.task_heartbeat_interval)
        while not self.finishing.wait(interval):
            try:
                with write_session(self.settings.database_url) as session:
                    beat = self._beat(session)
                    state = (
                        None
                        if beat
                        else session.scalar(select(TaskInstance.state).where(TaskInstance.id == self.ti_id))
                    )
            except Exception as exc:  # a busy DB must not kill the task; the next beat tries again
                self.log(f"Heartbeat failed: {exc}", "WARNING")
                continue
            if not beat and not self.finishing.is_set():
                self.log(f"State of this instance has been externally set to {state}. Terminating instance.", "WARNING")
                os.kill(os.getpid(), signal.SIGTERM)
                if not self.finishing.wait(10):  # the task ignores SIGTERM: go anyway
                    os._exit(1)
                return

    def _forget_inherited_connections(self) -> None:
        # Connections the fork server had open belong to it: drop them unclosed, open our own.
        get_engine(self.settings.database_url).dispose(close=False)

    def _beat(self, session) -> int:
        return session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.id == self.ti_id,
                TaskInstance.state == TI.RUNNING.value,
                TaskInstance.try_number == self.try_number,
            )
            .values(last_heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount

    def _record_alone(self, values: dict[str, Any]) -> int:
        if not self.alone.is_set():
            self._forget_inherited_connections()
        values = dict(values)
        new = values.pop("state")
        xcoms = values.pop("xcoms", None)
        dataset_events = values.pop("dataset_events", None)
        task_map = values.pop("task_map", None)
        with write_session(self.settings.database_url) as session:
            moved = set_ti_state(session, self.ti_id, old=TI.RUNNING, new=new, expect_try=self.try_number, **values)
            if moved and new in FAILURE_STATES:
                record_try_event(session, TI.FAILED.value, self.request, execution_date=self.execution_date)
            if moved and dataset_events:
                record_dataset_events(
                    session,
                    dag_id=self.dag_id,
                    run_id=self.run_id,
                    task_id=self.task_id,
                    map_index=self.request.get("map_index", -1),
                    events=dataset_events,
                    now=values["end_date"],
                )
            if moved and task_map is not None:
                record_task_map(session, self.request, task_map)
            if moved and xcoms:
                store_xcoms(
                    session,
                    dag_id=self.dag_id,
                    run_id=self.run_id,
                    task_id=self.task_id,
                    map_index=self.request.get("map_index", -1),
                    items=xcoms,
                )
        if not moved:
            # Cleared while running: it goes up for retry. Otherwise someone else decided (dagrun_timeout,
            # a zombie sweep, a user's mark): their state stands.
            with write_session(self.settings.database_url) as session:
                restarted = end_restarted_try(
                    session,
                    self.ti_id,
                    try_number=self.try_number,
                    policy=self.retry,
                    dag_id=self.dag_id,
                    task_id=self.task_id,
                    execution_date=self.execution_date,
                    start_date=self.started,
                    now=values["end_date"],
                )
                if restarted:
                    record_try_event(session, TI.FAILED.value, self.request, execution_date=self.execution_date)
            if restarted:
                self.log("The task instance was cleared while running. Marking task as UP_FOR_RETRY.", "WARNING")
            else:
                self.log(f"The task instance was changed while finishing; not recording {new}.", "WARNING")
        return 0


def run_forked(settings: Settings, request: dict[str, Any], dag_cache: DagFileCache | None, sock: socket.socket) -> int:
    """Entry point in a freshly forked child; returns the exit code for os._exit."""
    bind_task_process(settings)  # Variable and Connection read the metadata database with these
    runner = TaskRunner(settings, request, dag_cache, Channel(sock))
    runner.redirect_output()
    try:
        return runner.run()
    except BaseException as exc:  # the runner itself broke: the fork server records handle_failure
        runner.log_exception(exc)
        return 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass


def warm_up() -> None:
    """In the fork server, before any fork: Jinja's lexer and filters, pendulum's UTC zone."""
    env = make_environment((".",))
    env.from_string("{{ ds }} {{ ts | ts_nodash }} {% if x %}{{ x }}{% endif %}").render(ds="", ts=utcnow(), x=1)
    as_pendulum(utcnow())
