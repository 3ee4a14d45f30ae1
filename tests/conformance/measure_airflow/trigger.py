"""Trigger one manual run per DAG id through Airflow's experimental API; print and save the answers.

    python trigger.py OUT.json DAG_ID[@LOGICAL_DATE] [DAG_ID[@LOGICAL_DATE] ...]

Uses the webserver app's test client (experimental API enabled, auth backend `default`), so the
trigger goes through the same endpoint a client calls: body `{}`, logical date now; with
`@LOGICAL_DATE` the body is `{"execution_date": LOGICAL_DATE}` (ExternalTaskSensor's parent and
child are triggered with one logical date, so the sensor finds the parent's run).
"""

from __future__ import annotations

import json
import sys

from airflow.www.app import create_app


def main(out_path: str, dag_ids: list[str]) -> None:
    client = create_app(testing=True).test_client()
    answers = {}
    for argument in dag_ids:
        dag_id, _, logical_date = argument.partition("@")
        body = {"execution_date": logical_date} if logical_date else {}
        response = client.post(f"/api/experimental/dags/{dag_id}/dag_runs", json=body)
        answers[dag_id] = {"status": response.status_code, "body": response.get_json()}
        print(dag_id, response.status_code, response.get_json(), flush=True)
    with open(out_path, "w") as handle:
        json.dump(answers, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
