"""Operators and DAGs accept Airflow 2.10.5's arguments and refuse bad ones with Airflow's messages."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from slipstream.sdk import DAG, AirflowException, BaseOperator, BashOperator, EmptyOperator, PythonOperator
from slipstream.sdk.exceptions import DuplicateTaskIdFound, RemovedInAirflow3Warning
from slipstream.sdk.venv import is_venv_installed

# Airflow 2.10.5's BaseOperator.__init__ and DAG.__init__ parameters, as its signatures list them.
AIRFLOW_OPERATOR_ARGS = """
task_id owner email email_on_retry email_on_failure retries retry_delay retry_exponential_backoff max_retry_delay
start_date end_date depends_on_past ignore_first_depends_on_past wait_for_past_depends_before_skipping
wait_for_downstream dag params default_args priority_weight weight_rule queue pool pool_slots sla execution_timeout
on_execute_callback on_failure_callback on_success_callback on_retry_callback on_skipped_callback pre_execute
post_execute trigger_rule resources run_as_user task_concurrency map_index_template max_active_tis_per_dag
max_active_tis_per_dagrun executor executor_config do_xcom_push multiple_outputs inlets outlets task_group doc
doc_md doc_json doc_yaml doc_rst task_display_name logger_name allow_nested_operators
""".split()
AIRFLOW_DAG_ARGS = """
dag_id description schedule schedule_interval timetable start_date end_date full_filepath template_searchpath
template_undefined user_defined_macros user_defined_filters default_args concurrency max_active_tasks
max_active_runs max_consecutive_failed_dag_runs dagrun_timeout sla_miss_callback default_view orientation catchup
on_success_callback on_failure_callback doc_md params access_control is_paused_upon_creation
jinja_environment_kwargs render_template_as_native_obj tags owner_links auto_register fail_stop dag_display_name
""".split()


def parameters(func) -> set[str]:
    return set(inspect.signature(getattr(func, "__wrapped__", func)).parameters) - {"self", "kwargs"}


def test_every_airflow_argument_is_accepted():
    assert set(AIRFLOW_OPERATOR_ARGS) <= parameters(BaseOperator.__init__)
    assert set(AIRFLOW_DAG_ARGS) <= parameters(DAG.__init__)


def test_the_arguments_are_stored():
    def callback(context):
        return None

    with DAG("d", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
        task = EmptyOperator(
            task_id="t",
            doc="plain",
            doc_json="{}",
            doc_yaml="a: 1",
            doc_rst="*rst*",
            sla=timedelta(hours=1),
            resources={"cpus": 1},
            run_as_user="nobody",
            map_index_template="{{ x }}",
            max_active_tis_per_dag=2,
            max_active_tis_per_dagrun=1,
            executor="LocalExecutor",
            multiple_outputs=True,
            on_execute_callback=callback,
            on_skipped_callback=[callback],
            task_display_name="Shown",
            wait_for_downstream=True,
        )

    assert (task.doc, task.doc_json, task.doc_yaml, task.doc_rst) == ("plain", "{}", "a: 1", "*rst*")
    assert (task.sla, task.resources, task.run_as_user) == (timedelta(hours=1), {"cpus": 1}, "nobody")
    assert (task.max_active_tis_per_dag, task.max_active_tis_per_dagrun, task.executor) == (2, 1, "LocalExecutor")
    assert task.multiple_outputs is True and task.map_index_template == "{{ x }}"
    assert task.on_execute_callback is callback and task.on_skipped_callback == [callback]
    assert task.task_display_name == "Shown"
    # wait_for_downstream implies depends_on_past, as in Airflow.
    assert task.wait_for_downstream is True and task.depends_on_past is True


def test_positional_arguments_are_refused():
    with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
        BashOperator("t", "echo hi")
    assert str(info.value) == "Use keyword arguments when initializing operators"


def test_unknown_arguments_name_the_class_the_task_and_the_arguments():
    with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
        EmptyOperator(task_id="t", colour="red", size=3)
    assert str(info.value) == (
        "Invalid arguments were passed to EmptyOperator (task_id: t). Invalid arguments were:\n"
        "**kwargs: {'colour': 'red', 'size': 3}"
    )


def test_a_missing_required_argument_is_named():
    with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
        BashOperator(task_id="t")
    assert str(info.value) == "missing keyword argument 'bash_command'"


def test_default_args_can_supply_a_required_argument():
    with DAG("d", schedule=None, default_args={"bash_command": "echo from defaults"}):
        task = BashOperator(task_id="t")
    assert task.bash_command == "echo from defaults"


@pytest.mark.parametrize("bad", ["has space", "slash/y", "ünïcödé?", ""])
def test_a_task_id_must_be_word_characters_dots_and_dashes(bad):
    with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
        EmptyOperator(task_id=bad)
    assert str(info.value) == (
        f"The key {bad!r} has to be made of alphanumeric characters, dashes, dots and underscores exclusively"
    )


def test_a_task_id_may_have_250_characters_not_more():
    with DAG("d", schedule=None):
        EmptyOperator(task_id="t" * 250)
        with pytest.raises(AirflowException) as info:
            EmptyOperator(task_id="u" * 251)
    assert str(info.value) == "The key has to be less than 250 characters"


def test_a_dag_id_follows_the_same_rule():
    with pytest.raises(AirflowException, match="has to be made of alphanumeric characters, dashes, dots"):
        DAG("no spaces please", schedule=None)


def test_a_duplicate_task_id_is_refused_with_airflows_exception():
    with DAG("d", schedule=None) as dag:
        EmptyOperator(task_id="same")
        with pytest.raises(DuplicateTaskIdFound) as info:
            BashOperator(task_id="same", bash_command="true")
    assert str(info.value) == "Task id 'same' has already been added to the DAG"
    assert isinstance(dag.get_task("same"), EmptyOperator)


def test_the_dummy_trigger_rule_is_always_with_a_deprecation_warning():
    with DAG("d", schedule=None), pytest.warns(RemovedInAirflow3Warning) as caught:
        task = EmptyOperator(task_id="t", trigger_rule="dummy")
    assert task.trigger_rule == "always"
    assert str(caught[0].message) == "dummy Trigger Rule is deprecated. Please use `TriggerRule.ALWAYS`."
    # Attributed to the line that made the task, not to the SDK.
    assert caught[0].filename == __file__


def test_none_failed_or_skipped_is_renamed():
    with DAG("d", schedule=None), pytest.warns(RemovedInAirflow3Warning):
        task = EmptyOperator(task_id="t", trigger_rule="none_failed_or_skipped")
    assert task.trigger_rule == "none_failed_min_one_success"


def test_task_concurrency_means_max_active_tis_per_dag():
    with DAG("d", schedule=None), pytest.warns(RemovedInAirflow3Warning) as caught:
        task = EmptyOperator(task_id="t", task_concurrency=3)
    assert task.max_active_tis_per_dag == 3 and caught[0].filename == __file__
    assert (
        str(caught[0].message) == "The 'task_concurrency' parameter is deprecated. Please use 'max_active_tis_per_dag'."
    )


def test_dag_concurrency_means_max_active_tasks():
    with pytest.warns(RemovedInAirflow3Warning) as caught:
        dag = DAG("d", schedule=None, concurrency=4)
    assert dag.max_active_tasks == 4
    assert str(caught[0].message) == "The 'concurrency' parameter is deprecated. Please use 'max_active_tasks'."


def test_provide_context_warns_and_is_ignored():
    with DAG("d", schedule=None), pytest.warns(RemovedInAirflow3Warning) as caught:
        PythonOperator(task_id="t", python_callable=lambda: None, provide_context=True)
    assert str(caught[0].message) == "provide_context is deprecated as of 2.0 and is no longer required"


def test_schedule_interval_warns_and_still_schedules():
    with pytest.warns(RemovedInAirflow3Warning) as caught:
        dag = DAG("d", schedule_interval="@daily", start_date=datetime(2024, 1, 1, tzinfo=UTC))
    assert dag.schedule["cron"] == "0 0 * * *"
    assert str(caught[0].message) == (
        "Param `schedule_interval` is deprecated and will be removed in a future release. "
        "Please use `schedule` instead. "
    )


def test_two_schedule_arguments_are_refused():
    with pytest.raises(ValueError, match="At most one allowed for args 'schedule_interval', 'timetable', and"):
        DAG("d", schedule="@daily", schedule_interval="@hourly")


def test_an_unknown_dag_argument_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'scheduel'"):
        DAG("d", scheduel="@daily")


def test_dag_arguments_are_stored():
    def macro():
        return 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dag = DAG(
            "d",
            schedule=None,
            user_defined_macros={"m": macro},
            user_defined_filters={"f": str.upper},
            template_searchpath="/tmp",
            render_template_as_native_obj=True,
            jinja_environment_kwargs={"trim_blocks": True},
            owner_links={"ops": "https://example.com"},
            access_control={"role": {"can_read"}},
            dag_display_name="Shown",
            default_view="graph",
            orientation="TB",
            auto_register=False,
            fail_stop=True,
            max_consecutive_failed_dag_runs=3,
            on_success_callback=macro,
            on_failure_callback=[macro],
            sla_miss_callback=macro,
        )
    assert dag.user_defined_macros == {"m": macro} and dag.user_defined_filters == {"f": str.upper}
    assert dag.template_searchpath == ["/tmp"] and dag.render_template_as_native_obj is True
    assert (dag.dag_display_name, dag.default_view, dag.orientation) == ("Shown", "graph", "TB")
    assert (dag.auto_register, dag.fail_stop, dag.max_consecutive_failed_dag_runs) == (False, True, 3)
    assert dag.on_success_callback is macro and dag.on_failure_callback == [macro]


def test_bad_dag_view_and_orientation():
    with pytest.raises(AirflowException, match="Invalid values of dag.default_view"):
        DAG("d", schedule=None, default_view="tree-ish")
    with pytest.raises(AirflowException, match=r"Invalid values of dag.orientation: only support \('LR', 'TB'"):
        DAG("d", schedule=None, orientation="up")


def test_templates_exts_sets_the_python_operators_template_files():
    with DAG("d", schedule=None):
        task = PythonOperator(task_id="t", python_callable=lambda: None, templates_exts=[".sql"])
    assert list(task.template_ext) == [".sql"]


def test_bash_output_processor_and_the_old_skip_exit_code():
    with DAG("d", schedule=None), pytest.warns(DeprecationWarning, match="skip_exit_code is deprecated"):
        task = BashOperator(
            task_id="t", bash_command="echo 41", skip_exit_code=3, output_processor=lambda s: int(s) + 1
        )
    assert list(task.skip_on_exit_code) == [3]
    assert task.execute({}) == 42


def test_is_venv_installed_says_whether_virtualenv_is_there():
    expected = shutil.which("virtualenv") is not None or importlib.util.find_spec("virtualenv") is not None
    assert is_venv_installed() is expected


def test_an_empty_operator_with_an_execute_callback_gets_a_process():
    from slipstream.sdk.serialization import serialize_dag

    with DAG("d", schedule=None) as dag:
        EmptyOperator(task_id="plain")
        EmptyOperator(task_id="watched", on_execute_callback=lambda context: None)
    tasks = serialize_dag(dag)["tasks"]
    assert tasks["plain"]["is_empty"] is True and tasks["watched"]["is_empty"] is False
