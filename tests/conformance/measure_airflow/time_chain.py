"""Time bench/dags/taskflow_xcom_chain_100.py in real Airflow: trigger through the experimental API,
wait for the run to end, report its end_date minus queued_at (the trigger) and the last XCom.

    python time_chain.py

Run it with that DAG alone in Airflow's DAGs folder, a scheduler running and the DAG parsed.
"""

from __future__ import annotations

import json
import time

from airflow.models import DagRun, TaskInstance, XCom
from airflow.utils.session import create_session
from airflow.www.app import create_app

DAG_ID = "taskflow_xcom_chain_100"


def main() -> None:
    client = create_app(testing=True).test_client()
    started = time.monotonic()
    response = client.post(f"/api/experimental/dags/{DAG_ID}/dag_runs", json={})
    run_id = response.get_json()["run_id"]
    while True:
        with create_session() as session:
            run = session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id).one()
            if run.state in ("success", "failed"):
                succeeded = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id, state="success").count()
                last = XCom.get_one(run_id=run_id, dag_id=DAG_ID, task_id="step_099", session=session)
                report = {
                    "state": run.state,
                    "trigger_to_end_date_s": round((run.end_date - run.queued_at).total_seconds(), 1),
                    "seen_finished_after_s": round(time.monotonic() - started, 1),
                    "tasks_success": succeeded,
                    "last_xcom": last,
                }
                print(json.dumps(report))
                return
        time.sleep(0.5)


if __name__ == "__main__":
    main()
