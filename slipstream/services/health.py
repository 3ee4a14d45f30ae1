"""Health as Airflow reports it: the metadata database, and the newest live scheduler heartbeat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from slipstream.dates import utcnow
from slipstream.db import session_scope
from slipstream.models import Job

SCHEDULER_JOB_TYPE = "SchedulerJob"
# Airflow's scheduler_health_check_threshold.
SCHEDULER_HEALTH_THRESHOLD = timedelta(seconds=30)


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
