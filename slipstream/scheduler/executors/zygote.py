"""The fork server: a warm process that forks one child per task try and supervises it.

A cold `python -m ...` costs 200-400 ms before a task even starts; this process has already
imported Slipstream, SQLAlchemy, Jinja2 and pendulum (and, unless disabled, the DAG files it ran
tasks from), so a try starts in a few milliseconds. It is also each try's supervisor (Airflow's
LocalTaskJob): it claims tries, heartbeats them and records their outcomes, a batch per loop round
in one transaction (slipstream.scheduler.supervision). Children talk to it over a socket pair and
never open a database connection unless the fork server is gone.

Protocol with the LocalExecutor (JSON lines): requests on our stdin,
    {"settings": {...}}                                   first line
    {"op": "run", "ti_id", "try_number", "dag_id", "task_id", "run_id", "map_index", "fileloc", ...}
    {"op": "kill", "ti_id", "try_number"}
    {"op": "shutdown", "grace": seconds}
events on our stdout,
    {"event": "ready"} / {"event": "started", "ti_id", "try_number", "pid"}
    {"event": "exited", "ti_id", "try_number", "pid", "returncode", "state"} / {"event": "stopped"}.
"exited" comes after the try's outcome is committed. If the executor goes away (stdin closes) we
start nothing new, see the running tries through, then exit.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import OperationalError

from slipstream.config import Settings

_KILL_AFTER_TERM = 10.0
_RETRY_FLUSH_AFTER = 0.2


def close_pipes(process) -> None:
    """Close our ends of a fork server's stdin and stdout (its cue to finish up), whatever state they are in."""
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    data = {}
    paths = []
    for name in settings.__dataclass_fields__:
        value = getattr(settings, name)
        if isinstance(value, Path):
            paths.append(name)
            value = str(value)
        data[name] = value
    return {"values": data, "paths": paths}


def settings_from_dict(payload: dict[str, Any]) -> Settings:
    values = dict(payload["values"])
    for name in payload["paths"]:
        values[name] = Path(values[name])
    known = Settings.__dataclass_fields__
    return Settings(**{k: v for k, v in values.items() if k in known})


def _log(message: str) -> None:
    sys.stderr.write(f"slipstream fork server: {message}\n")
    sys.stderr.flush()


class ForkServer:
    def __init__(self, settings: Settings, request_fd: int, event_fd: int):
        from slipstream.scheduler.supervision import Try

        self._Try = Try
        self.settings = settings
        self.request_fd = request_fd
        self.event_fd = event_fd
        self.tries: dict[int, Try] = {}  # pid -> try, until its outcome is recorded
        self.sockets: dict[int, socket.socket] = {}  # pid -> our end of the child's socket pair
        self.buffers: dict[int, bytes] = {}
        self.to_claim: list[Try] = []
        self.rendered: set[int] = set()
        self.exited: list[tuple[Try, int]] = []
        self.next_beat = time.monotonic() + settings.task_heartbeat_interval
        self.retry_flush_at: float | None = None
        self.accepting = True
        self.stopping_at: float | None = None
        self.terminated_at: float | None = None
        self.buffer = b""
        self.dag_cache = None
        if settings.executor_dag_cache:
            from slipstream.scheduler.dag_files import DagFileCache

            self.dag_cache = DagFileCache()
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    def emit(self, event: dict[str, Any]) -> None:
        data = orjson.dumps(event) + b"\n"
        try:
            while data:
                written = os.write(self.event_fd, data)
                data = data[written:]
        except OSError:  # the executor is gone; the database has what matters
            pass

    # -- main loop ---------------------------------------------------------------------------------
    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self.begin_shutdown(self.settings.scheduler_shutdown_grace))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.request_fd, selectors.EVENT_READ, "requests")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "signals")
        self.emit({"event": "ready", "pid": os.getpid()})
        while self.accepting or self.tries:
            for key, _ in self.selector.select(self._timeout()):
                if key.data == "signals":
                    self._drain_wakeups()
                elif key.data == "requests":
                    self._read_requests()
                else:
                    self._read_child(key.data)
            self._reap()
            self._flush()
            if self.stopping_at is not None:
                self._escalate()
        self.emit({"event": "stopped"})

    def _timeout(self) -> float | None:
        now = time.monotonic()
        deadlines = []
        if any(t.claimed and t.outcome is None for t in self.tries.values()):
            deadlines.append(self.next_beat)
        if self.retry_flush_at is not None:
            deadlines.append(self.retry_flush_at)
        if self.stopping_at is not None:
            deadlines.append(now + 0.1)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _read_requests(self) -> None:
        try:
            chunk = os.read(self.request_fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            # The executor is gone: start nothing new, see the running tries through.
            self.selector.unregister(self.request_fd)
            self.accepting = False
            for attempt in list(self.to_claim):
                self._abandon(attempt)
            return
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            request = orjson.loads(line)
            op = request.get("op")
            if op == "run":
                if self.accepting:
                    self._start(request)
            elif op == "kill":
                self._kill((request["ti_id"], request["try_number"]), signal.SIGTERM)
            elif op == "shutdown":
                self.begin_shutdown(float(request.get("grace", 0)))

    def begin_shutdown(self, grace: float) -> None:
        self.accepting = False
        deadline = time.monotonic() + max(0.0, grace)
        self.stopping_at = deadline if self.stopping_at is None else min(self.stopping_at, deadline)
        if self.terminated_at is not None and grace <= 0:
            self.terminated_at = time.monotonic() - _KILL_AFTER_TERM  # asked again: kill now

    def _escalate(self) -> None:
        now = time.monotonic()
        if self.terminated_at is None and now >= self.stopping_at:
            self.terminated_at = now
            for pid in list(self.tries):
                _signal_group(pid, signal.SIGTERM)
        elif self.terminated_at is not None and now >= self.terminated_at + _KILL_AFTER_TERM:
            for pid in list(self.tries):
                _signal_group(pid, signal.SIGKILL)

    def _kill(self, key: tuple[int, int], sig: int) -> None:
        for pid, attempt in self.tries.items():
            if (attempt.ti_id, attempt.try_number) == key:
                _signal_group(pid, sig)

    # -- children ----------------------------------------------------------------------------------
    def _start(self, request: dict[str, Any]) -> None:
        fileloc = request.get("fileloc") or ""
        if self.dag_cache is not None and fileloc:
            self._preload(fileloc)
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._child(request, theirs)  # never returns
        theirs.close()
        ours.setblocking(False)
        attempt = self._Try(request=request, pid=pid)
        self.tries[pid] = attempt
        self.sockets[pid] = ours
        self.buffers[pid] = b""
        self.selector.register(ours, selectors.EVENT_READ, pid)
        self.to_claim.append(attempt)
        self.emit({"event": "started", "ti_id": attempt.ti_id, "try_number": attempt.try_number, "pid": pid})

    def _preload(self, fileloc: str) -> None:
        """Import the DAG file here once, so children inherit it; a failing file is left to the child,
        which then logs the error in the try's log."""
        from slipstream.scheduler.dag_files import add_to_sys_path

        add_to_sys_path(self.settings.dags_folder)
        previous = signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, max(1.0, self.settings.dag_file_processor_timeout))
        try:
            self.dag_cache.load(fileloc)
        except BaseException:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _child(self, request: dict[str, Any], sock: socket.socket) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)
            os.setpgid(0, 0)
            for fd in (self.request_fd, self.event_fd, self.wake_r, self.wake_w):
                os.close(fd)
            for other in self.sockets.values():
                other.close()
            from slipstream.scheduler.task_runner import run_forked

            code = run_forked(self.settings, request, self.dag_cache, sock)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _read_child(self, pid: int) -> bool:
        """Read what the child sent; False when nothing more is there now."""
        sock = self.sockets.get(pid)
        if sock is None:
            return False
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self._close_socket(pid)
            return False
        self.buffers[pid] += chunk
        *lines, self.buffers[pid] = self.buffers[pid].split(b"\n")
        attempt = self.tries.get(pid)
        for line in lines:
            if not line.strip() or attempt is None:
                continue
            message = orjson.loads(line)
            if message.get("op") == "rendered":
                attempt.rendered_fields = message.get("fields")
                self.rendered.add(pid)
            elif message.get("op") == "outcome":
                from slipstream.scheduler.task_runner import decode_dates

                attempt.outcome = decode_dates(message["values"])
        return True

    def _close_socket(self, pid: int) -> None:
        sock = self.sockets.pop(pid, None)
        self.buffers.pop(pid, None)
        if sock is not None:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def _abandon(self, attempt) -> None:
        """A try we will not claim: its child hears that the fork server is gone and exits."""
        if attempt in self.to_claim:
            self.to_claim.remove(attempt)
        self._close_socket(attempt.pid)

    def _reap(self) -> None:
        while self.tries:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            attempt = self.tries.get(pid)
            if attempt is None:
                continue
            # What the child said before it exited is still in the socket: read it all. (A grandchild
            # may hold the socket open, so stop when nothing more is there rather than wait for EOF.)
            while self._read_child(pid):
                pass
            if attempt in self.to_claim:
                self.to_claim.remove(attempt)
            self.exited.append((attempt, os.waitstatus_to_exitcode(status)))

    # -- the database --------------------------------------------------------------------------------
    def _flush(self) -> None:
        from slipstream.dates import utcnow
        from slipstream.scheduler import supervision
        from slipstream.scheduler.task_runner import HOSTNAME, UNIXNAME
        from slipstream.scheduler.write_lock import write_session

        now_mono = time.monotonic()
        beat_due = now_mono >= self.next_beat
        retry_due = self.retry_flush_at is not None and now_mono >= self.retry_flush_at
        # Rendered fields alone do not start a transaction: they ride on the next one (a claim, an exit or
        # the heartbeat, within task_heartbeat_interval), and a finished try's outcome carries its own.
        if not (self.to_claim or self.exited or beat_due or retry_due):
            return
        to_claim, exited = list(self.to_claim), list(self.exited)
        finishing = {id(attempt) for attempt, _ in exited}
        watched = [t for t in self.tries.values() if t.claimed and t.outcome is None and id(t) not in finishing]
        try:
            with write_session(self.settings.database_url) as session:
                # Taken once the lock is ours: a heartbeat stamped before queuing for it would arrive stale.
                now = utcnow()
                messages = supervision.claim(session, to_claim, now=now, hostname=HOSTNAME, unixname=UNIXNAME)
                for pid in self.rendered:
                    attempt = self.tries.get(pid)
                    if attempt is not None and attempt.claimed and attempt.outcome is None:
                        supervision.save_rendered_fields(session, attempt)
                states = [supervision.record(session, a, now=now, returncode=rc) for a, rc in exited]
                lost = supervision.heartbeat(session, watched, now=now) if beat_due else []
        except Exception as exc:
            for attempt in to_claim:
                attempt.claimed = False
            self.retry_flush_at = time.monotonic() + _RETRY_FLUSH_AFTER
            if isinstance(exc, OperationalError):  # locked or unreachable: keep everything, try again shortly
                _log(f"database write failed, retrying: {exc}")
                return
            # A bug or a value the database refuses: do not retry it forever. Outcomes fall back to
            # handle_failure, unclaimed tries are not run, rendered fields are dropped.
            _log(f"database write failed, degrading: {exc}\n{traceback.format_exc()}")
            for attempt, _ in exited:
                attempt.outcome = None
                attempt.rendered_fields = None
            for attempt in to_claim:
                self._abandon(attempt)
            self.rendered.clear()
            return
        self.retry_flush_at = None
        if beat_due:
            self.next_beat = time.monotonic() + self.settings.task_heartbeat_interval
        self.to_claim = [t for t in self.to_claim if t not in to_claim]
        self.exited = [e for e in self.exited if e not in exited]
        self.rendered.clear()
        for attempt in to_claim:
            sock = self.sockets.get(attempt.pid)
            message = messages.get(attempt.pid)
            if sock is not None and message is not None:
                try:
                    sock.setblocking(True)
                    sock.settimeout(5)
                    sock.sendall(orjson.dumps(message, default=str) + b"\n")
                    sock.setblocking(False)
                except OSError:
                    pass
        for attempt in lost:
            self._note(attempt)
            _signal_group(attempt.pid, signal.SIGTERM)
        for (attempt, returncode), state in zip(exited, states, strict=True):
            self._note(attempt)
            self._close_socket(attempt.pid)
            self.tries.pop(attempt.pid, None)
            self.emit(
                {
                    "event": "exited",
                    "ti_id": attempt.ti_id,
                    "try_number": attempt.try_number,
                    "pid": attempt.pid,
                    "returncode": returncode,
                    "state": state,
                }
            )

    def _note(self, attempt) -> None:
        from slipstream.scheduler.logs import append_to_log, log_path

        request = attempt.request
        path = log_path(
            self.settings.logs_folder,
            request["dag_id"],
            request["run_id"],
            request["task_id"],
            attempt.try_number,
            request.get("map_index", -1),
        )
        for note in attempt.notes:
            append_to_log(path, note, "WARNING")
        attempt.notes.clear()


def _raise_timeout(_signum: int, _frame: Any) -> None:
    raise TimeoutError("DAG file import timed out")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _warm_up(settings: Settings) -> None:
    """Import what every task needs, so children start warm."""
    import gc

    import sqlalchemy.orm

    from slipstream.scheduler import supervision  # noqa: F401
    from slipstream.scheduler.task_runner import warm_up
    from slipstream.sdk import decorators, metastore, xcom  # noqa: F401  (TaskFlow, XCom, secrets: ~15 ms cold)
    from slipstream.storage.db import get_engine

    sqlalchemy.orm.configure_mappers()
    get_engine(settings.database_url)
    try:
        xcom.warm_pull(settings.database_url)
    except Exception:  # the database not there yet: children compile the pull themselves
        pass
    warm_up()
    # Objects alive now are never collected; children skip them in GC and copy fewer pages.
    gc.freeze()


def main() -> None:
    # Keep the protocol pipes away from fds 0/1, which children (and stray prints) would write to.
    request_fd = os.dup(0)
    event_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    first = b""
    while not first.endswith(b"\n"):
        chunk = os.read(request_fd, 1)
        if not chunk:
            return
        first += chunk
    settings = settings_from_dict(orjson.loads(first)["settings"])
    _warm_up(settings)
    os.set_blocking(request_fd, False)
    ForkServer(settings, request_fd, event_fd).serve()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
