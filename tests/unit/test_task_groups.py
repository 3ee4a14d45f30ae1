"""Task groups (task-model-semantics §5): ids, nesting, default_args, `>>`, and `@task_group`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slipstream.sdk import DAG, AirflowException, EmptyOperator, TaskGroup, task_group
from slipstream.sdk.exceptions import DuplicateTaskIdFound
from slipstream.sdk.task_group import TaskGroupContext


def upstream(dag: DAG) -> dict[str, set[str]]:
    return {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}


class TestIds:
    def test_children_are_prefixed_and_nesting_chains_prefixes(self):
        with DAG("d", schedule=None) as dag:
            with TaskGroup("outer") as outer:
                EmptyOperator(task_id="a")
                with TaskGroup("inner") as inner:
                    EmptyOperator(task_id="b")
            EmptyOperator(task_id="top")

        assert dag.task_ids == ["outer.a", "outer.inner.b", "top"]
        assert (outer.group_id, inner.group_id, inner.label) == ("outer", "outer.inner", "inner")
        assert dag.get_task("outer.inner.b").label == "b"
        assert dag.get_task("outer.inner.b").task_group is inner
        assert dag.get_task("top").task_group is dag.task_group
        assert dag.task_group.group_id is None and dag.task_group.is_root
        assert set(dag.task_group_dict) == {"outer", "outer.inner"}

    def test_prefix_group_id_false_leaves_child_ids_alone(self):
        with DAG("d", schedule=None) as dag:
            with TaskGroup("g", prefix_group_id=False):
                EmptyOperator(task_id="a")
                with TaskGroup("sub"):
                    EmptyOperator(task_id="b")

        assert dag.task_ids == ["a", "sub.b"]

    def test_a_group_outside_a_dag_is_refused(self):
        with pytest.raises(AirflowException) as info:
            TaskGroup("g")
        assert str(info.value) == "TaskGroup can only be used inside a dag"

    @pytest.mark.parametrize("bad", ["has.dot", "has space", "ünï/"])
    def test_a_prefixing_group_id_must_be_word_characters_and_dashes(self, bad):
        with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
            TaskGroup(bad)
        assert str(info.value) == (
            f"The key {bad!r} has to be made of alphanumeric characters, dashes and underscores exclusively"
        )

    def test_a_group_id_longer_than_200_is_refused(self):
        with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
            TaskGroup("g" * 201)
        assert str(info.value) == "The key has to be less than 200 characters"

    def test_a_duplicate_group_id_is_refused(self):
        with DAG("d", schedule=None):
            TaskGroup("g")
            with pytest.raises(DuplicateTaskIdFound) as info:
                TaskGroup("g")
        assert str(info.value) == "group_id 'g' has already been added to the DAG"

    def test_group_and_task_ids_share_one_namespace(self):
        with DAG("d", schedule=None):
            EmptyOperator(task_id="x")
            with pytest.raises(DuplicateTaskIdFound, match="group_id 'x' has already been added to the DAG"):
                TaskGroup("x")
            TaskGroup("y")
            with pytest.raises(DuplicateTaskIdFound, match="Task id 'y' has already been added to the DAG"):
                EmptyOperator(task_id="y")

    def test_add_suffix_on_collision_numbers_after_the_highest_suffix(self):
        with DAG("d", schedule=None):
            first = TaskGroup("g", add_suffix_on_collision=True)
            second = TaskGroup("g", add_suffix_on_collision=True)
            TaskGroup("g__7")
            third = TaskGroup("g", add_suffix_on_collision=True)

        assert [first.group_id, second.group_id, third.group_id] == ["g", "g__1", "g__8"]

    def test_the_full_task_id_must_stay_within_250_characters(self):
        with DAG("d", schedule=None), TaskGroup("g" * 200), pytest.raises(AirflowException) as info:
            EmptyOperator(task_id="t" * 50)
        assert str(info.value) == "The key has to be less than 250 characters"

    def test_the_context_stack_unwinds(self):
        with DAG("d", schedule=None) as dag:
            with TaskGroup("a") as a:
                assert TaskGroupContext.current(dag) is a
                with TaskGroup("b") as b:
                    assert TaskGroupContext.current(dag) is b
                assert TaskGroupContext.current(dag) is a
            assert TaskGroupContext.current(dag) is dag.task_group

    def test_an_explicit_parent_group(self):
        with DAG("d", schedule=None) as dag:
            parent = TaskGroup("parent")
            child = TaskGroup("child", parent_group=parent)
            EmptyOperator(task_id="t", task_group=child)

        assert dag.task_ids == ["parent.child.t"]


class TestDefaultArgs:
    def test_precedence_dag_outer_inner_operator_explicit(self):
        dag_args = {"retries": 1, "owner": "dag", "queue": "dag", "pool": "dag", "retry_delay": timedelta(1)}
        with DAG("d", schedule=None, default_args=dag_args) as dag:
            with TaskGroup("outer", default_args={"retries": 2, "owner": "outer", "queue": "outer"}):
                with TaskGroup("inner", default_args={"retries": 3, "owner": "inner"}):
                    EmptyOperator(task_id="plain")
                    EmptyOperator(task_id="own", default_args={"retries": 4})
                    EmptyOperator(task_id="explicit", default_args={"retries": 4}, retries=5)
                EmptyOperator(task_id="outer_only")
            EmptyOperator(task_id="dag_only")

        def of(task_id):
            task = dag.get_task(task_id)
            return task.retries, task.owner, task.queue, task.pool

        assert of("outer.inner.plain") == (3, "inner", "outer", "dag")
        assert of("outer.inner.own") == (4, "inner", "outer", "dag")
        assert of("outer.inner.explicit")[0] == 5
        assert of("outer.outer_only") == (2, "outer", "outer", "dag")
        assert of("dag_only") == (1, "dag", "dag", "dag")

    def test_group_default_args_must_be_a_mapping(self):
        with DAG("d", schedule=None), pytest.raises(TypeError, match="default_args must be a mapping"):
            TaskGroup("g", default_args=[("retries", 1)])


class TestRelationships:
    def build(self):
        with DAG("d", schedule=None) as dag:
            start = EmptyOperator(task_id="start")
            with TaskGroup("g") as group:
                a = EmptyOperator(task_id="a")
                b = EmptyOperator(task_id="b")
                c = EmptyOperator(task_id="c")
                a >> [b, c]
            end = EmptyOperator(task_id="end")
        return dag, start, group, end

    def test_into_a_group_reaches_its_roots_and_out_of_it_its_leaves(self):
        dag, start, group, end = self.build()
        start >> group >> end

        assert upstream(dag) == {
            "start": set(),
            "g.a": {"start"},
            "g.b": {"g.a"},
            "g.c": {"g.a"},
            "end": {"g.b", "g.c"},
        }
        assert [t.task_id for t in group.roots] == ["g.a"]
        assert [t.task_id for t in group.leaves] == ["g.b", "g.c"]

    def test_lshift_and_lists_with_groups(self):
        dag, start, group, end = self.build()
        end << group << start
        assert upstream(dag)["end"] == {"g.b", "g.c"} and upstream(dag)["g.a"] == {"start"}

        with DAG("e", schedule=None) as other:
            x, y = EmptyOperator(task_id="x"), EmptyOperator(task_id="y")
            with TaskGroup("h") as h:
                EmptyOperator(task_id="only")
            [x, y] >> h
        assert upstream(other)["h.only"] == {"x", "y"}

    def test_group_to_group_connects_leaves_to_roots(self):
        with DAG("d", schedule=None) as dag:
            with TaskGroup("one") as one:
                EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
            with TaskGroup("two") as two:
                EmptyOperator(task_id="c")
                EmptyOperator(task_id="d")
            one >> two

        assert upstream(dag)["two.c"] == {"one.b"} and upstream(dag)["two.d"] == {"one.b"}
        assert two.upstream_group_ids == {"one"} and one.downstream_group_ids == {"two"}

    def test_edges_are_evaluated_when_rshift_runs(self):
        with DAG("d", schedule=None) as dag:
            start = EmptyOperator(task_id="start")
            with TaskGroup("g") as group:
                EmptyOperator(task_id="early")
            start >> group
            with group:
                EmptyOperator(task_id="late")
            empty = TaskGroup("empty")
            start >> empty
            empty >> EmptyOperator(task_id="after_empty")

        assert upstream(dag)["g.early"] == {"start"}
        assert upstream(dag)["g.late"] == set()
        assert upstream(dag)["after_empty"] == set()


class TestTaskGroupDecorator:
    def test_group_id_is_the_function_name_and_the_docstring_the_tooltip(self):
        @task_group
        def load():
            """Load everything."""
            EmptyOperator(task_id="t")

        with DAG("d", schedule=None) as dag:
            group = load()

        assert isinstance(group, TaskGroup)
        assert (group.group_id, group.tooltip) == ("load", "Load everything.")
        assert dag.task_ids == ["load.t"]

    def test_reuse_suffixes_the_group(self):
        @task_group(tooltip="explicit")
        def tg():
            """ignored: an explicit tooltip wins"""
            EmptyOperator(task_id="t")

        with DAG("d", schedule=None) as dag:
            groups = [tg(), tg(), tg()]

        assert [g.group_id for g in groups] == ["tg", "tg__1", "tg__2"]
        assert groups[0].tooltip == "explicit"
        assert dag.task_ids == ["tg.t", "tg__1.t", "tg__2.t"]

    def test_a_call_returns_the_function_result_when_not_none(self):
        @task_group(group_id="named", default_args={"retries": 2})
        def section(suffix):
            EmptyOperator(task_id="first") >> (last := EmptyOperator(task_id=f"last_{suffix}"))
            return last

        with DAG("d", schedule=None) as dag:
            last = section("x")
            last >> EmptyOperator(task_id="after")

        assert last.task_id == "named.last_x"
        assert dag.get_task("named.first").retries == 2
        assert upstream(dag)["after"] == {"named.last_x"}

    def test_override_changes_group_arguments(self):
        @task_group
        def base():
            EmptyOperator(task_id="t")

        with DAG("d", schedule=None) as dag:
            base.override(group_id="renamed", prefix_group_id=False)()
            base()

        assert dag.task_ids == ["t", "base.t"]

    def test_groups_from_the_decorator_chain_with_rshift(self):
        @task_group
        def first():
            EmptyOperator(task_id="a")

        @task_group
        def second():
            EmptyOperator(task_id="b")

        with DAG("d", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
            first() >> second()

        assert upstream(dag)["second.b"] == {"first.a"}

    def test_unknown_group_arguments_are_refused(self):
        with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):

            @task_group(colour="red")
            def tg():
                pass
