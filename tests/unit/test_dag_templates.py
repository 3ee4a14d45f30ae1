"""DAG-level template settings: macros, filters, template_searchpath, native rendering, Jinja options."""

from __future__ import annotations

import jinja2
import pytest

from slipstream.scheduler.templating import dag_environment, make_environment, render_template_fields
from slipstream.sdk import DAG, BashOperator, PythonOperator


def test_a_plain_dag_shares_the_cached_environment(tmp_path):
    dag = DAG("d", schedule=None)
    assert dag_environment(dag, str(tmp_path)) is make_environment((str(tmp_path),))


def test_macros_and_filters(tmp_path):
    with DAG("d", schedule=None, user_defined_macros={"who": "ops"}, user_defined_filters={"twice": lambda s: s * 2}):
        task = BashOperator(task_id="t", bash_command="echo {{ who | twice }} {{ ds }}")
    env = dag_environment(task.dag, str(tmp_path))
    render_template_fields(task, {"ds": "2024-01-01"}, env)
    assert task.bash_command == "echo opsops 2024-01-01"


def test_template_files_are_found_beside_the_dag_then_on_the_search_path(tmp_path):
    extra = tmp_path / "sql"
    extra.mkdir()
    (extra / "query.sh").write_text("echo {{ params.n }}")
    with DAG("d", schedule=None, template_searchpath=str(extra)):
        task = BashOperator(task_id="t", bash_command="query.sh", params={"n": 3})
    render_template_fields(task, {"params": {"n": 3}}, dag_environment(task.dag, str(tmp_path)))
    assert task.bash_command == "echo 3"


def test_native_rendering_keeps_python_types(tmp_path):
    with DAG("d", schedule=None, render_template_as_native_obj=True):
        task = PythonOperator(
            task_id="t", python_callable=lambda: None, op_kwargs={"numbers": "{{ [1, 2] + [n] }}", "text": "n={{ n }}"}
        )
    render_template_fields(task, {"n": 3}, dag_environment(task.dag, str(tmp_path)))
    assert task.op_kwargs == {"numbers": [1, 2, 3], "text": "n=3"}


def test_native_rendering_is_still_sandboxed(tmp_path):
    with DAG("d", schedule=None, render_template_as_native_obj=True):
        task = BashOperator(task_id="t", bash_command="{{ ''.__class__.__mro__ }}")
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_template_fields(task, {}, dag_environment(task.dag, str(tmp_path)))


def test_jinja_environment_kwargs_and_template_undefined(tmp_path):
    with DAG(
        "d",
        schedule=None,
        jinja_environment_kwargs={"keep_trailing_newline": True},
        template_undefined=jinja2.Undefined,
    ):
        task = BashOperator(task_id="t", bash_command="echo [{{ missing }}]\n")
    render_template_fields(task, {}, dag_environment(task.dag, str(tmp_path)))
    assert task.bash_command == "echo []\n"
