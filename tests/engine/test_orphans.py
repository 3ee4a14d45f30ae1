"""Orphaned tries (Airflow's adopt_or_reset_orphaned_tasks): a silent scheduler's queued tries run
again, the calling scheduler's never, however late its own heartbeat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from slipstream.dates import utcnow
from slipstream.scheduler.health import reset_orphans
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, Job, TaskInstance
from tests.engine.support import add_dag, trigger

DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("orphans", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
    BashOperator(task_id="mine", bash_command="true")
    BashOperator(task_id="theirs", bash_command="true")
"""


def test_a_late_heartbeat_does_not_orphan_the_callers_own_tries(engine_settings):
    add_dag(engine_settings, "orphans", DAG)
    run_id = trigger(engine_settings, "orphans")
    now = utcnow()
    stale = now - timedelta(seconds=10)
    with session_scope(engine_settings.database_url) as db:
        me = Job(job_type="SchedulerJob", state="running", hostname="here", pid=1, start_date=stale)
        gone = Job(job_type="SchedulerJob", state="running", hostname="gone", pid=2, start_date=stale)
        db.add_all([me, gone])
        db.flush()
        me.latest_heartbeat = gone.latest_heartbeat = stale  # both late: one pass took longer than the threshold
        for task_id, job in (("mine", me), ("theirs", gone)):
            db.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
                .values(state="queued", try_number=1, queued_by_job_id=job.id, queued_dttm=stale)
            )
        db.execute(update(DagRun).where(DagRun.run_id == run_id).values(state="running"))
        my_id, gone_id = me.id, gone.id

    with session_scope(engine_settings.database_url) as db:
        assert reset_orphans(db, my_job_id=my_id, now=now, health_threshold=2.0) == 1

    with session_scope(engine_settings.database_url, write=False) as db:
        states = dict(db.execute(select(TaskInstance.task_id, TaskInstance.state)).all())
        assert states == {"mine": "queued", "theirs": None}
        assert (db.get(Job, my_id).state, db.get(Job, gone_id).state) == ("running", "failed")
