"""A fork server's heartbeat says when it was written: stamped once the write lock is held, so a wait
in the lock queue (another engine writer's long pass) does not make it arrive already stale."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import select, update

from slipstream.dates import utcnow
from slipstream.scheduler.executors.zygote import ForkServer
from slipstream.scheduler.supervision import Try
from slipstream.scheduler.write_lock import lock_path_for, write_session
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance
from tests.engine.support import add_dag, trigger

DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("beating", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
    BashOperator(task_id="long", bash_command="sleep 60")
"""


def test_a_heartbeat_queued_behind_another_writer_is_stamped_when_written(engine_settings):
    if lock_path_for(engine_settings.database_url) is None:
        pytest.skip("the engine's writers queue on a file lock only on SQLite")
    add_dag(engine_settings, "beating", DAG)
    run_id = trigger(engine_settings, "beating")
    stale = utcnow()
    with session_scope(engine_settings.database_url) as db:
        db.execute(update(DagRun).where(DagRun.run_id == run_id).values(state="running"))
        db.execute(
            update(TaskInstance)
            .where(TaskInstance.run_id == run_id)
            .values(state="running", try_number=1, start_date=stale, last_heartbeat_at=stale)
        )
        ti_id = db.scalar(select(TaskInstance.id).where(TaskInstance.run_id == run_id))

    request_r, request_w = os.pipe()
    event_r, event_w = os.pipe()
    server = ForkServer(engine_settings, request_r, event_w)
    server.tries[12345] = Try(request={"ti_id": ti_id, "try_number": 1}, pid=12345, claimed=True)
    server.next_beat = 0.0  # a heartbeat is due

    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with write_session(engine_settings.database_url):
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert holding.wait(10)
        flushing = threading.Thread(target=server._flush)
        flushing.start()
        time.sleep(1.0)  # the heartbeat waits in the lock queue meanwhile
        released_at = utcnow()
        release.set()
        flushing.join(10)
    finally:
        release.set()
        writer.join(10)
        for fd in (request_r, request_w, event_r, event_w):
            os.close(fd)

    with session_scope(engine_settings.database_url, write=False) as db:
        beat = db.scalar(select(TaskInstance.last_heartbeat_at).where(TaskInstance.id == ti_id))
    assert beat >= released_at, f"stamped {(released_at - beat).total_seconds():.2f} s before it was written"
