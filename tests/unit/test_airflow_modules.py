"""The plain `airflow.*` modules DAG files import: the same objects as slipstream.sdk, Airflow's warnings."""

from __future__ import annotations

import importlib
import sys
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from slipstream import airflow_namespace
from slipstream.config import Settings
from slipstream.sdk import DAG, EmptyOperator
from slipstream.sdk.configuration import SlipstreamConf
from slipstream.sdk.exceptions import AirflowConfigException, RemovedInAirflow3Warning


@pytest.fixture(autouse=True)
def airflow_names():
    """The namespace as a DAG-importing process has it, removed again afterwards."""
    airflow_namespace.install()
    yield
    sys.meta_path.remove(airflow_namespace._FINDER)
    for name in [n for n in sys.modules if n == "airflow" or n.startswith("airflow.")]:
        del sys.modules[name]


def test_modules_re_export_the_sdk_objects():
    from airflow.models.baseoperator import BaseOperator, chain, chain_linear, cross_downstream
    from airflow.utils.edgemodifier import Label
    from airflow.utils.task_group import TaskGroup

    import slipstream.sdk as sdk

    assert (BaseOperator, chain, chain_linear, cross_downstream) == (
        sdk.BaseOperator,
        sdk.chain,
        sdk.chain_linear,
        sdk.cross_downstream,
    )
    assert (Label, TaskGroup) == (sdk.Label, sdk.TaskGroup)


@pytest.mark.parametrize("module", ["airflow.operators.dummy", "airflow.operators.dummy_operator"])
def test_dummy_operator_is_empty_operator_with_airflows_warning(module):
    with pytest.warns(DeprecationWarning) as caught:
        dummy = importlib.import_module(module).DummyOperator
    assert dummy is EmptyOperator
    assert str(caught[0].message) == (
        f"The `{module}.DummyOperator` class is deprecated. Please use `'airflow.operators.empty.EmptyOperator'`."
    )


def test_old_bash_operator_path():
    from slipstream.sdk import BashOperator

    with pytest.warns(DeprecationWarning, match=r"airflow\.operators\.bash_operator\.BashOperator` class is deprec"):
        from airflow.operators.bash_operator import BashOperator as old
    assert old is BashOperator


def test_an_unknown_name_in_an_old_module_is_an_import_error():
    with pytest.raises(ImportError):
        from airflow.operators.dummy import NoSuchOperator  # noqa: F401


def test_helpers_chain_warns_and_chains():
    from airflow.utils.helpers import chain, cross_downstream

    with DAG("d", schedule=None) as dag:
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        with pytest.warns(RemovedInAirflow3Warning) as caught:
            chain(a, b)
        with pytest.warns(RemovedInAirflow3Warning):
            cross_downstream([a, b], c)
    assert str(caught[0].message) == "This function is deprecated. Please use `airflow.models.baseoperator.chain`."
    assert {t.task_id: t.upstream_task_ids for t in dag.tasks} == {"a": set(), "b": {"a"}, "c": {"a", "b"}}


def test_days_ago_is_utc_midnight_n_days_back_with_a_warning():
    from airflow.utils.dates import days_ago

    with pytest.warns(RemovedInAirflow3Warning, match=r"^Function `days_ago` is deprecated and will be removed"):
        value = days_ago(2)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert value == today - timedelta(days=2)
    assert value.utcoffset() == timedelta(0)


def test_date_range():
    from airflow.utils.dates import date_range

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        daily = date_range(datetime(2016, 1, 1), datetime(2016, 1, 3), delta=timedelta(1))
        monthly = date_range(datetime(2016, 1, 1, tzinfo=UTC), datetime(2016, 3, 3, tzinfo=UTC), delta="0 0 1 * *")
        back = date_range(datetime(2016, 1, 1, tzinfo=UTC), num=-2, delta=timedelta(days=1))
    assert [d.day for d in daily] == [1, 2, 3] and all(d.utcoffset() == timedelta(0) for d in daily)
    assert [d.month for d in monthly] == [1, 2, 3]
    assert [d.isoformat() for d in back] == ["2015-12-31T00:00:00+00:00", "2016-01-01T00:00:00+00:00"]


def test_weekday():
    from airflow.utils.weekday import WeekDay

    assert WeekDay.get_weekday_number("sunday") == WeekDay.SUNDAY == 7
    assert WeekDay.validate_week_day({"Monday", WeekDay.FRIDAY}) == {1, 5}
    with pytest.raises(AttributeError, match=r'^Invalid Week Day passed: "Funday"$'):
        WeekDay.get_weekday_number("Funday")


def test_states():
    from airflow.utils.state import DagRunState, State, TaskInstanceState

    assert TaskInstanceState.SUCCESS == "success" and DagRunState.FAILED == "failed"
    assert State.SKIPPED == "skipped" and State.NONE is None
    assert State.UPSTREAM_FAILED in State.failed_states and None in State.unfinished


def test_macros_are_airflows():
    import airflow.macros as macros

    assert macros.ds_add("2015-01-06", -5) == "2015-01-01"
    assert macros.ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y") == "01-01-15"
    assert macros.datetime(2020, 1, 1) - macros.timedelta(days=1) == datetime(2019, 12, 31)
    assert 0 <= macros.random() < 1
    assert macros.json.loads("[1]") == [1] and macros.uuid.UUID(int=1) and macros.time.time()
    assert macros.dateutil.relativedelta.relativedelta(months=1)


def test_the_task_context_uses_the_same_macros():
    import airflow.macros

    from slipstream.scheduler import context

    assert context.MACROS.ds_add is airflow.macros.ds_add


def test_timezone_helpers():
    from airflow.utils import timezone

    assert timezone.utcnow().utcoffset() == timedelta(0)
    assert timezone.datetime(2024, 1, 1).isoformat() == "2024-01-01T00:00:00+00:00"
    assert timezone.parse("2024-01-01T05:00:00+01:00").isoformat() == "2024-01-01T05:00:00+01:00"


class TestConf:
    def conf(self, **overrides):
        return SlipstreamConf(Settings(**overrides))

    def test_the_module_exports_conf(self):
        from airflow.configuration import conf

        assert isinstance(conf, SlipstreamConf)

    def test_answers_from_settings(self, tmp_path):
        conf = self.conf(home=tmp_path, dags_folder=tmp_path / "dags", load_examples=False, parallelism=7)
        assert conf.get("core", "dags_folder") == str(tmp_path / "dags")
        assert conf.getboolean("core", "load_examples") is False
        assert conf.getboolean("CORE", "LOAD_EXAMPLES") is False
        assert conf.getint("core", "parallelism") == 7
        assert conf.getfloat("scheduler", "dag_dir_list_interval") == 30.0
        assert conf.get("core", "executor") == "LocalExecutor"
        assert conf.has_option("core", "dags_folder") and not conf.has_option("core", "no_such_key")

    def test_airflow_environment_variables_win(self, tmp_path, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "true")
        monkeypatch.setenv("AIRFLOW__MY_TEAM__OWNER", "data")
        conf = self.conf(home=tmp_path, load_examples=False)
        assert conf.getboolean("core", "load_examples") is True
        assert conf.get("my_team", "owner") == "data"

    def test_unknown_keys_raise_unless_a_fallback_is_given(self, tmp_path):
        conf = self.conf(home=tmp_path)
        with pytest.raises(AirflowConfigException) as info:
            conf.get("core", "no_such_key")
        assert str(info.value) == "section/key [core/no_such_key] not found in config"
        assert conf.get("core", "no_such_key", fallback="x") == "x"
        assert conf.getboolean("core", "no_such_key", fallback=True) is True

    def test_conversion_errors_name_the_key(self, tmp_path, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "many")
        conf = self.conf(home=tmp_path)
        with pytest.raises(AirflowConfigException) as info:
            conf.getint("core", "parallelism")
        assert str(info.value) == (
            'Failed to convert value to int. Please check "parallelism" key in "core" section. Current value: "many".'
        )
        with pytest.raises(AirflowConfigException, match="Failed to convert value to bool"):
            conf.getboolean("core", "parallelism")

    def test_secrets_are_not_offered(self, tmp_path):
        conf = self.conf(home=tmp_path, database_url="postgresql://u:secret@h/db")
        assert not conf.has_option("database", "sql_alchemy_conn")
        assert not conf.has_option("core", "sql_alchemy_conn")
