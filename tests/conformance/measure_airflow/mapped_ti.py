"""Ask Airflow's experimental task-instance endpoint about a mapped task and its unmapped reducer.

    python mapped_ti.py TRIGGERS.json OUT.json

GET /api/experimental/dags/<dag_id>/dag_runs/<logical date>/tasks/<task_id> for
example_dynamic_task_mapping's add_one (mapped, three instances) and sum_it (unmapped), on the
manual run trigger.py made; records status and body.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import quote

from airflow.www.app import create_app

DAG_ID = "example_dynamic_task_mapping"


def main(triggers_path: str, out_path: str) -> None:
    with open(triggers_path) as handle:
        logical_date = json.load(handle)[DAG_ID]["body"]["execution_date"]
    client = create_app(testing=True).test_client()
    answers = {}
    for task_id in ("add_one", "sum_it"):
        path = f"/api/experimental/dags/{DAG_ID}/dag_runs/{quote(logical_date)}/tasks/{task_id}"
        response = client.get(path)
        answers[task_id] = {"path": path, "status": response.status_code, "body": response.get_json()}
        print(task_id, response.status_code, response.get_json(), flush=True)
    with open(out_path, "w") as handle:
        json.dump(answers, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
