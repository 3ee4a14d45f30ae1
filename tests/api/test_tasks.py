"""GET /dags/{dag_id}/tasks/{task_id}: a task's attributes, stringified as Airflow 2.10.5 shows them."""

from __future__ import annotations

import pytest

from tests.api.support import BASE, BASH_DAG, assert_error, assert_json

# Airflow 2.10.5's keys for example_bash_operator.runme_0 (reference §4.7).
AIRFLOW_2_10_5_KEYS = set(
    """
    allow_nested_operators bash_command cwd depends_on_past do_xcom_push doc doc_json doc_md doc_rst
    doc_yaml downstream_task_ids email email_on_failure email_on_retry end_date env execution_timeout executor
    executor_config ignore_first_depends_on_past inlets map_index_template max_active_tis_per_dag
    max_active_tis_per_dagrun max_retry_delay multiple_outputs on_execute_callback on_failure_callback
    on_retry_callback on_skipped_callback on_success_callback operator_extra_links outlets owner params pool
    pool_slots priority_weight queue resources retries retry_delay retry_exponential_backoff run_as_user sla
    start_date start_from_trigger start_trigger_args task_group task_id template_ext template_fields
    template_fields_renderers trigger_rule ui_color ui_fgcolor upstream_task_ids wait_for_downstream
    wait_for_past_depends_before_skipping weight_rule
    """.split()
)


def url(task_id: str, dag_id: str = BASH_DAG) -> str:
    return f"{BASE}/dags/{dag_id}/tasks/{task_id}"


class TestGetTask:
    def test_runme_0(self, client):
        assert_json(
            client.get(url("runme_0")),
            200,
            {
                "allow_nested_operators": "True",
                "bash_command": 'echo "{{ task_instance_key_str }}" && sleep 1',
                "cwd": "None",
                "depends_on_past": "False",
                "do_xcom_push": "True",
                "doc": "None",
                "doc_json": "None",
                "doc_md": "None",
                "doc_rst": "None",
                "doc_yaml": "None",
                "downstream_task_ids": "{'run_after_loop'}",
                "email": "None",
                "email_on_failure": "True",
                "email_on_retry": "True",
                "end_date": "None",
                "env": "None",
                "execution_timeout": "None",
                "executor": "None",
                "executor_config": "{}",
                "ignore_first_depends_on_past": "True",
                "inlets": "[]",
                "map_index_template": "None",
                "max_active_tis_per_dag": "None",
                "max_active_tis_per_dagrun": "None",
                "max_retry_delay": "None",
                "multiple_outputs": "False",
                "on_execute_callback": "None",
                "on_failure_callback": "None",
                "on_retry_callback": "None",
                "on_skipped_callback": "None",
                "on_success_callback": "None",
                "operator_extra_links": "()",
                "outlets": "[]",
                "owner": "airflow",
                "params": "{'example_key': 'example_value'}",
                "pool": "default_pool",
                "pool_slots": "1",
                "priority_weight": "1",
                "queue": "default",
                "resources": "None",
                "retries": "0",
                "retry_delay": "0:05:00",
                "retry_exponential_backoff": "False",
                "run_as_user": "None",
                "sla": "None",
                "start_date": "2021-01-01 00:00:00+00:00",
                "start_from_trigger": "False",
                "start_trigger_args": "None",
                "task_group": "None",
                "task_id": "runme_0",
                "template_ext": "['.sh', '.bash']",
                "template_fields": "('bash_command', 'env', 'cwd')",
                "template_fields_renderers": "{}",
                "trigger_rule": "all_success",
                "ui_color": "#f0ede4",
                "ui_fgcolor": "#000",
                "upstream_task_ids": "set()",
                "wait_for_downstream": "False",
                "wait_for_past_depends_before_skipping": "False",
                "weight_rule": "downstream",
            },
        )

    def test_key_set_is_airflow_2_10_5s(self, client):
        assert set(client.get(url("runme_0")).json()) == AIRFLOW_2_10_5_KEYS

    @pytest.mark.parametrize(
        ("task_id", "upstream", "downstream"),
        [
            ("run_after_loop", "{'runme_0', 'runme_1', 'runme_2'}", "{'run_this_last'}"),
            ("also_run_this", "set()", "{'run_this_last'}"),
            ("this_will_skip", "set()", "{'run_this_last'}"),
            ("run_this_last", "{'also_run_this', 'run_after_loop', 'this_will_skip'}", "set()"),
        ],
    )
    def test_relatives_as_python_set_reprs(self, client, task_id, upstream, downstream):
        body = client.get(url(task_id)).json()

        assert (body["upstream_task_ids"], body["downstream_task_ids"]) == (upstream, downstream)

    def test_an_empty_operator_has_no_bash_command(self, client):
        body = client.get(url("run_this_last")).json()

        assert "bash_command" not in body
        assert body["email"] == "None"
        assert all(isinstance(value, str) for value in body.values())

    def test_task_in_another_pool(self, client):
        body = client.get(url("sleep_in_pool_0", dag_id="example_pool")).json()

        assert body["pool"] == "example_single_slot_pool"

    def test_unknown_task(self, client):
        assert_error(client.get(url("nope")), 404, f"Task nope not found in dag {BASH_DAG}")

    def test_unknown_dag(self, client):
        assert_error(client.get(url("runme_0", dag_id="nope")), 404, "Dag id nope not found in DagModel")
