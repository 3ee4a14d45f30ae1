"""`slipstream standalone`: the API, the dag processor, the scheduler and the triggerer together, until Ctrl-C.

Each component runs in its own process (`python -m slipstream.cli <component>`), in its own
process group, so a Ctrl-C reaches only this supervisor, which stops the components in order:
one SIGTERM each (the scheduler lets running tasks finish), a second Ctrl-C hurries them, and
whatever is still alive after the grace period is killed. A component that dies is restarted.
If this process is killed outright, the components get SIGTERM from the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from slipstream.cli.common import console, load_settings

logger = logging.getLogger("slipstream.standalone")

COMPONENTS = ("dag-processor", "scheduler", "triggerer", "api")
_PR_SET_PDEATHSIG = 1
_MAX_BACKOFF = 30.0


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass
    os.setsid()


@dataclass
class Component:
    name: str
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    started_at: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "slipstream.cli", self.name], preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()
        logger.info("Started %s (pid %d)", self.name, self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass


class Supervisor:
    def __init__(self, names: tuple[str, ...], grace: float):
        self.components = [Component(name) for name in names]
        self.grace = grace
        self.stop_requests = 0

    def request_stop(self, signum: int, _frame) -> None:
        self.stop_requests += 1
        if self.stop_requests == 1:
            logger.info("Got %s: stopping (again to terminate running tasks now)", signal.Signals(signum).name)
        for component in self.components:
            component.signal(signal.SIGTERM)

    def run(self) -> int:
        for component in self.components:
            component.start()
        while not self.stop_requests:
            time.sleep(0.5)
            for component in self.components:
                self._watch(component)
        return self._wait_for_all()

    def _watch(self, component: Component) -> None:
        if component.alive or self.stop_requests:
            return
        now = time.monotonic()
        if component.next_start == 0.0:
            code = component.process.returncode if component.process else None
            if now - component.started_at > 60:
                component.backoff = 1.0
            logger.error("%s exited with code %s; restarting in %g s", component.name, code, component.backoff)
            component.next_start = now + component.backoff
            component.backoff = min(_MAX_BACKOFF, component.backoff * 2)
        elif now >= component.next_start:
            component.next_start = 0.0
            component.restarts += 1
            component.start()

    def _wait_for_all(self) -> int:
        deadline = time.monotonic() + self.grace + 20
        while any(c.alive for c in self.components) and time.monotonic() < deadline:
            time.sleep(0.1)
        for component in self.components:
            if component.alive:
                logger.warning("%s did not stop in time; killing it", component.name)
                component.signal(signal.SIGKILL)
                component.process.wait()
        logger.info("Standalone stopped")
        return 0


def _announce_admin_password(settings) -> None:
    """basic_auth with no users yet: create `admin` and show its random password this once."""
    from slipstream.services.users import admin_password_path, ensure_admin_user

    if settings.auth_backend != "basic_auth":
        return
    password = ensure_admin_user(settings)
    if password:
        console.print(
            f"Created the API user [bold]admin[/bold] with password [bold]{password}[/bold] "
            f"(also in {admin_password_path(settings)}, readable by you only). "
            "Manage users with `slipstream users`."
        )


def standalone_command() -> None:
    """Run the API, the dag processor and the scheduler together until Ctrl-C or SIGTERM."""
    from slipstream.cli.secret_store import prepare_fernet_key
    from slipstream.storage.migrations.runner import upgrade

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    prepare_fernet_key(settings)  # the key for variables and connections, made on first start
    _announce_admin_password(settings)
    console.print(
        f"Slipstream standalone: API on http://{settings.host}:{settings.port}/api/experimental, "
        f"DAGs from {settings.dags_folder}{' and the examples' if settings.load_examples else ''}, "
        f"logs in {settings.logs_folder}. Ctrl-C stops it all."
    )
    supervisor = Supervisor(COMPONENTS, settings.scheduler_shutdown_grace)
    previous = {sig: signal.signal(sig, supervisor.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
