"""Health as Airflow reports it: the metadata database, and the newest live scheduler heartbeat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from slipstream.dates import utcnow
from slipstream.storage.db import session_scope
from slipstream.storage.models import Job

SCHEDULER_JOB_TYPE = "SchedulerJob"
TRIGGERER_JOB_TYPE = "TriggererJob"
# Airflow's scheduler_health_check_threshold and triggerer_health_check_threshold.
SCHEDULER_HEALTH_THRESHOLD = timedelta(seconds=30)
TRIGGERER_HEALTH_THRESHOLD = timedelta(seconds=30)


def check_health(database_url: str) -> tuple[bool, dict[str, Any]]:
    """(database answered, the report). A database error is reported, never raised."""
    try:
        with session_scope(database_url, write=False) as session:
            session.execute(text("SELECT 1"))
            heartbeat = session.scalar(
                select(func.max(Job.latest_heartbeat)).where(Job.job_type == SCHEDULER_JOB_TYPE, Job.state == "running")
            )
    except Exception:
        unhealthy = {"status": "unhealthy"}
        return False, {"metadatabase": unhealthy, "scheduler": {**unhealthy, "latest_scheduler_heartbeat": None}}
    fresh = heartbeat is not None and utcnow() - heartbeat <= SCHEDULER_HEALTH_THRESHOLD
    return True, {
        "metadatabase": {"status": "healthy"},
        "scheduler": {
            "status": "healthy" if fresh else "unhealthy",
            "latest_scheduler_heartbeat": heartbeat.isoformat() if heartbeat else None,
        },
    }


def _latest_heartbeat(session: Any, job_type: str) -> Any:
    return session.scalar(
        select(func.max(Job.latest_heartbeat)).where(Job.job_type == job_type, Job.state == "running")
    )


def _component(heartbeat: Any, threshold: timedelta, key: str) -> dict[str, Any]:
    """Airflow's v1 component status: null when the component never ran, else healthy while fresh."""
    if heartbeat is None:
        return {"status": None, key: None}
    fresh = utcnow() - heartbeat <= threshold
    return {"status": "healthy" if fresh else "unhealthy", key: heartbeat.isoformat()}


def component_health(database_url: str) -> dict[str, Any]:
    """/api/v1/health: the database, the scheduler, the triggerer and the dag processor. The dag processor
    runs inside `slipstream standalone` or the scheduler here, never as Airflow's standalone job, so it
    reports null as Airflow does without one."""
    no_dag_processor = {"status": None, "latest_dag_processor_heartbeat": None}
    try:
        with session_scope(database_url, write=False) as session:
            session.execute(text("SELECT 1"))
            scheduler = _latest_heartbeat(session, SCHEDULER_JOB_TYPE)
            triggerer = _latest_heartbeat(session, TRIGGERER_JOB_TYPE)
    except Exception:
        return {
            "metadatabase": {"status": "unhealthy"},
            "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
            "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
            "dag_processor": no_dag_processor,
        }
    scheduler_status = _component(scheduler, SCHEDULER_HEALTH_THRESHOLD, "latest_scheduler_heartbeat")
    if scheduler is None:
        scheduler_status["status"] = "unhealthy"  # Airflow reports a scheduler that never ran as unhealthy
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": scheduler_status,
        "triggerer": _component(triggerer, TRIGGERER_HEALTH_THRESHOLD, "latest_triggerer_heartbeat"),
        "dag_processor": no_dag_processor,
    }
