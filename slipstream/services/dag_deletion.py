"""Deleting a DAG's records. The file stays, so the dag processor brings the DAG back on its next scan."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipstream.errors import Conflict, NotFound
from slipstream.states import TaskInstanceState
from slipstream.storage.dataset_models import (
    DagRunDatasetEvent,
    DagScheduleDatasetAliasReference,
    DagScheduleDatasetReference,
    DatasetDagRunQueue,
    TaskOutletDatasetReference,
)
from slipstream.storage.models import (
    DagModel,
    DagRun,
    DagWarning,
    ImportErrorModel,
    SerializedDagModel,
    TaskInstance,
    TaskMap,
    TaskReschedule,
    XCom,
)

# Deleted by dag_id and counted, children before parents.
_COUNTED = (
    XCom,
    TaskMap,
    TaskReschedule,
    TaskInstance,
    DagRun,
    DagScheduleDatasetReference,
    DagScheduleDatasetAliasReference,
    TaskOutletDatasetReference,
    DagWarning,
)


def delete_dag(session: Session, dag_id: str) -> int:
    """Remove the DAG, its runs and task instances in one unit; return the row count Airflow reports.

    Running task instances refuse the delete (checked first, as in Airflow). The audit log is kept.
    """
    running = session.scalar(
        select(func.count())
        .select_from(TaskInstance)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.RUNNING.value)
    )
    if running:
        raise Conflict("TaskInstances still running")
    dag = session.get(DagModel, dag_id, with_for_update=True)
    if dag is None:
        raise NotFound(f"Dag id {dag_id} not found")
    fileloc = dag.fileloc
    count = 0
    run_ids = select(DagRun.id).where(DagRun.dag_id == dag_id).scalar_subquery()
    # Rows keyed by run or by target DAG, which Airflow's count (rows with a dag_id) leaves out.
    session.execute(delete(DagRunDatasetEvent).where(DagRunDatasetEvent.dag_run_id.in_(run_ids)))
    session.execute(delete(DatasetDagRunQueue).where(DatasetDagRunQueue.target_dag_id == dag_id))
    for model in _COUNTED:  # Airflow counts every row it deletes by dag_id
        count += session.execute(delete(model).where(model.dag_id == dag_id)).rowcount or 0
    session.execute(delete(SerializedDagModel).where(SerializedDagModel.dag_id == dag_id))
    if fileloc:
        session.execute(delete(ImportErrorModel).where(ImportErrorModel.filename == fileloc))
    session.delete(dag)
    session.flush()
    return count + 1
