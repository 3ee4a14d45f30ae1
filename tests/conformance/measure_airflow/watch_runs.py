"""Follow the triggered runs in real Airflow while its scheduler runs: a snapshot of every run's and
task instance's state every few seconds, until every triggered run has ended (or a limit passes).

    python watch_runs.py TRIGGERS.json OUT.json [LIMIT_SECONDS]

The snapshots show when each run ended and what a long run looked like on the way (the
ExternalTaskSensor child waits out its 600 s timeout), and every other run the scheduler made.
"""

from __future__ import annotations

import json
import sys
import time

from airflow.models import DagRun
from airflow.utils import timezone
from airflow.utils.session import create_session


def _snapshot(triggers: dict) -> dict:
    runs = {}
    with create_session() as session:
        for dag_id, answer in triggers.items():
            if answer["status"] != 200:
                continue
            run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=answer["body"]["run_id"]).one()
            states = {f"{ti.task_id}[{ti.map_index}]": ti.state for ti in run.get_task_instances(session=session)}
            runs[dag_id] = {"state": run.state, "end_date": run.end_date and run.end_date.isoformat(), "tis": states}
        others = [
            {"dag_id": r.dag_id, "run_id": r.run_id, "run_type": r.run_type, "state": r.state}
            for r in session.query(DagRun).order_by(DagRun.id)
            if triggers.get(r.dag_id, {}).get("body", {}) is None
            or r.run_id != (triggers.get(r.dag_id, {}).get("body") or {}).get("run_id")
        ]
    return {"at": timezone.utcnow().isoformat(), "runs": runs, "other_runs": others}


def main(triggers_path: str, out_path: str, limit: float = 1500.0) -> None:
    with open(triggers_path) as handle:
        triggers = json.load(handle)
    started, snapshots = time.monotonic(), []
    while True:
        snapshot = _snapshot(triggers)
        snapshots.append(snapshot)
        with open(out_path, "w") as handle:
            json.dump(snapshots, handle, indent=1)
        running = [dag_id for dag_id, run in snapshot["runs"].items() if run["state"] not in ("success", "failed")]
        print(snapshot["at"], "still running:", running, flush=True)
        if not running or time.monotonic() - started > limit:
            return
        time.sleep(10)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(float(limit) for limit in sys.argv[3:4]))
