"""Param and ParamsDict as DAG authors see them, and the conf checks a trigger runs: Airflow's messages."""

from __future__ import annotations

import subprocess
import sys
import warnings
from types import SimpleNamespace

import pytest

from slipstream.errors import BadRequest
from slipstream.sdk import DAG, EmptyOperator
from slipstream.sdk.exceptions import AirflowException, ParamValidationError
from slipstream.sdk.params import Param, ParamsDict, process_params
from slipstream.sdk.serialization import serialize_dag
from slipstream.services.params import check_trigger_conf

NOT_AN_INTEGER = (
    "'abc' is not of type 'integer'\n\n"
    "Failed validating 'type' in schema:\n    {'type': 'integer'}\n\n"
    "On instance:\n    'abc'"
)
NO_VALUE = "No value passed and Param has no default value"
SCHEDULE_RULE = (
    "DAG is not allowed to define a Schedule, "
    "if there are any required params without default values or default values are not valid."
)


class TestParam:
    def test_the_default_is_the_value_when_none_is_given(self):
        assert Param(5, type="integer").resolve() == 5

    def test_a_given_value_is_validated_and_kept(self):
        param = Param(5, type="integer", minimum=0)
        assert param.resolve(7) == 7
        assert param.value == 7

    def test_no_default_and_no_value(self):
        with pytest.raises(ParamValidationError) as info:
            Param(type="integer").resolve()
        assert str(info.value) == NO_VALUE

    def test_a_value_breaking_the_schema_reads_as_jsonschema_says(self):
        with pytest.raises(ParamValidationError) as info:
            Param(type="integer").resolve("abc")
        assert str(info.value) == NOT_AN_INTEGER

    def test_suppressed_failures_resolve_to_none(self):
        assert Param(type="integer").resolve("abc", suppress_exception=True) is None
        assert Param().resolve(suppress_exception=True) is None

    @pytest.mark.parametrize(
        ("schema", "good", "bad", "first_line"),
        [
            ({"type": "string", "enum": ["a", "b"]}, "a", "c", "'c' is not one of ['a', 'b']"),
            ({"type": "integer", "minimum": 1, "maximum": 10}, 10, 11, "11 is greater than the maximum of 10"),
            ({"type": "string", "format": "date"}, "2024-02-29", "2024-02-30", "'2024-02-30' is not a 'date'"),
            ({"type": "string", "minLength": 3}, "abc", "ab", "'ab' is too short"),
            ({"type": ["null", "array"], "items": {"type": "integer"}}, None, ["x"], "'x' is not of type 'integer'"),
        ],
        ids=["enum", "maximum", "format", "min-length", "items"],
    )
    def test_json_schema_keywords_and_formats(self, schema, good, bad, first_line):
        param = Param(good, **schema)
        assert param.resolve() == good
        with pytest.raises(ParamValidationError) as info:
            param.resolve(bad)
        assert str(info.value).splitlines()[0] == first_line

    def test_a_whole_schema_may_be_passed_as_schema(self):
        param = Param(1, description="how many", schema={"type": "integer"})
        assert (param.description, param.schema) == ("how many", {"type": "integer"})

    def test_a_default_json_cannot_hold_warns(self):
        with pytest.warns(DeprecationWarning, match="The use of non-json-serializable params is deprecated"):
            Param({1, 2})

    def test_dump_and_serialize(self):
        assert Param(description="d", type="integer").dump() == {
            "__class": "slipstream.sdk.params.Param",
            "value": None,
            "description": "d",
            "schema": {"type": "integer"},
        }
        assert Param(3).serialize() == {"value": 3, "description": None, "schema": {}}


class TestParamsDict:
    def test_plain_values_become_schema_less_params(self):
        params = ParamsDict({"a": 1, "b": Param("x", type="string")})
        assert isinstance(params.get_param("a"), Param) and params.get_param("a").schema == {}
        assert dict(params) == {"a": 1, "b": "x"}

    def test_setting_an_existing_key_validates_against_its_param(self):
        params = ParamsDict({"n": Param(1, type="integer")})
        with pytest.raises(ParamValidationError) as info:
            params["n"] = "abc"
        assert str(info.value) == f"Invalid input for param n: {NOT_AN_INTEGER}"
        params["n"] = 2
        assert params["n"] == 2

    def test_a_new_key_becomes_a_schema_less_param(self):
        params = ParamsDict()
        params["new"] = {"any": "thing"}
        assert params.validate() == {"new": {"any": "thing"}}

    def test_validate_names_the_param(self):
        params = ParamsDict({"ok": 1, "needed": Param(type="string")})
        with pytest.raises(ParamValidationError) as info:
            params.validate()
        assert str(info.value) == f"Invalid input for param needed: {NO_VALUE}"

    def test_repr_shows_resolved_values_with_none_for_missing_ones(self):
        params = ParamsDict({"a": "x", "b": Param(type="integer"), "c": Param("no", type="integer")})
        assert repr(params) == "{'a': 'x', 'b': None, 'c': None}"
        assert params.dump() == {"a": "x", "b": None, "c": None}


class TestDagParams:
    def test_dag_and_task_params_accept_values_and_params(self):
        with DAG("d", schedule=None, params={"a": 1, "b": Param(2, type="integer")}) as dag:
            task = EmptyOperator(task_id="t", params={"c": Param("x", enum=["x", "y"])})
        assert isinstance(dag.params, ParamsDict) and isinstance(task.params, ParamsDict)
        assert process_params(dag, task, {}) == {"a": 1, "b": 2, "c": "x"}

    def test_default_args_params_join_the_dag_params(self):
        dag = DAG("d", schedule=None, params={"a": 1, "b": 1}, default_args={"params": {"b": 2}})
        assert dict(dag.params) == {"a": 1, "b": 2}
        assert "params" not in dag.default_args

    def test_task_default_args_params_win_over_task_params(self):
        with DAG("d", schedule=None) as dag:
            task = EmptyOperator(task_id="t", params={"a": 1, "b": 1}, default_args={"params": {"b": 2}})
            only_defaults = EmptyOperator(task_id="u", default_args={"params": {"c": 3}})
        assert dict(task.params) == {"a": 1, "b": 2}
        assert process_params(dag, only_defaults, {}) == {"c": 3}

    def test_a_scheduled_dag_needs_valid_defaults(self):
        with pytest.raises(AirflowException) as info:
            DAG("d", schedule="@daily", params={"x": Param(type="integer")})
        assert str(info.value) == SCHEDULE_RULE
        assert str(info.value.__cause__) == f"Invalid input for param x: {NO_VALUE}"
        with pytest.raises(AirflowException, match="DAG is not allowed to define a Schedule"):
            DAG("d", schedule="@daily", params={"x": Param("abc", type="integer")})

    def test_an_unscheduled_dag_may_leave_params_to_the_trigger(self):
        DAG("d", schedule=None, params={"x": Param(type="integer"), "y": Param("abc", type="integer")})

    def test_a_schema_that_is_not_one_is_refused(self):
        with pytest.raises(ParamValidationError, match="^Invalid schema for param x: 'nope' is not valid"):
            DAG("d", schedule=None, params={"x": Param(1, type="nope")})


class TestRunTimeParams:
    DAG_ = SimpleNamespace(params=ParamsDict({"a": "dag", "n": Param(1, type="integer")}))
    TASK = SimpleNamespace(params=ParamsDict({"a": "task", "t": "task"}))

    def test_dag_then_task_then_conf(self):
        merged = process_params(self.DAG_, self.TASK, {"n": 5, "extra": True})
        assert merged == {"a": "task", "n": 5, "t": "task", "extra": True}
        # Resolving never changes the DAG's own Params.
        assert self.DAG_.params.get_param("n").value == 1

    def test_conf_ignored_when_the_setting_says_so(self):
        merged = process_params(self.DAG_, self.TASK, {"n": 5, "extra": True}, conf_overrides_params=False)
        assert merged == {"a": "task", "n": 1, "t": "task"}

    def test_a_conf_breaking_a_param_fails(self):
        with pytest.raises(ParamValidationError) as info:
            process_params(self.DAG_, self.TASK, {"n": "abc"})
        assert str(info.value).startswith("Invalid input for param n: 'abc' is not of type 'integer'")


def serialized(params, schedule=None) -> dict:
    with DAG("d", schedule=schedule, params=params) as dag:
        EmptyOperator(task_id="t")
    return serialize_dag(dag)


class TestTriggerConfChecks:
    def test_params_are_stored_with_default_description_and_schema(self):
        data = serialized({"n": Param(1, "how many", type="integer"), "must": Param(type="string"), "v": "x"})
        assert data["params"] == {
            "n": {"default": 1, "description": "how many", "schema": {"type": "integer"}},
            "must": {"description": None, "schema": {"type": "string"}},
            "v": {"default": "x", "description": None, "schema": {}},
        }
        assert data["tasks"]["t"]["display"]["params"] == "{'n': 1, 'must': None, 'v': 'x'}"

    def test_a_conf_breaking_a_param_is_a_bad_request_naming_it(self):
        dag = serialized({"n": Param(1, type="integer")})
        with pytest.raises(BadRequest) as info:
            check_trigger_conf(dag, {"n": "abc"})
        assert info.value.message == f"Invalid input for param n: {NOT_AN_INTEGER}"

    def test_a_required_param_needs_the_conf(self):
        dag = serialized({"must": Param(type="string")})
        with pytest.raises(BadRequest) as info:
            check_trigger_conf(dag, {})
        assert info.value.message == f"Invalid input for param must: {NO_VALUE}"
        check_trigger_conf(dag, {"must": "given"})

    def test_an_invalid_default_fails_unless_the_conf_replaces_it(self):
        dag = serialized({"n": Param("abc", type="integer")})
        with pytest.raises(BadRequest, match="^Invalid input for param n: 'abc' is not of type 'integer'"):
            check_trigger_conf(dag, {})
        check_trigger_conf(dag, {"n": 3})

    def test_undeclared_conf_keys_are_fine(self):
        check_trigger_conf(serialized({"n": Param(1, type="integer")}), {"other": [1, {"x": None}]})
        check_trigger_conf(serialized({}), {"other": 1})

    def test_params_stored_before_schemas_were_kept_read_as_plain_values(self):
        check_trigger_conf({"params": {"example_key": "example_value"}}, {"example_key": 5})

    def test_no_params_or_no_schemas_never_load_jsonschema(self):
        code = (
            "import sys\n"
            "from slipstream.services.params import check_trigger_conf\n"
            "check_trigger_conf({'params': {}}, {'a': 1})\n"
            "check_trigger_conf({'params': {'v': {'default': 1, 'description': None, 'schema': {}}}}, {'v': 2})\n"
            "assert 'jsonschema' not in sys.modules, 'jsonschema was imported'\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_airflow_module_path_gives_the_same_classes():
    from slipstream import airflow_namespace

    airflow_namespace.install()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from airflow.models import Param as ModelsParam
        from airflow.models.param import Param as AirflowParam
        from airflow.models.param import ParamsDict as AirflowParamsDict
    assert AirflowParam is Param and ModelsParam is Param and AirflowParamsDict is ParamsDict
