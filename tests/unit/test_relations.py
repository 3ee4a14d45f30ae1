"""`>>` between anything with roots and leaves, chain / cross_downstream / chain_linear, and edge labels."""

from __future__ import annotations

import pytest

from slipstream.sdk import (
    DAG,
    AirflowException,
    EmptyOperator,
    Label,
    TaskGroup,
    chain,
    chain_linear,
    cross_downstream,
)
from slipstream.sdk.dependencies import DependencyMixin


def upstream(dag: DAG) -> dict[str, set[str]]:
    return {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}


def tasks(*names: str) -> list[EmptyOperator]:
    return [EmptyOperator(task_id=name) for name in names]


class OutputOf(DependencyMixin):
    """What the XComArg contract asks of a new participant: roots and leaves, nothing else."""

    def __init__(self, operator):
        self.operator = operator

    @property
    def roots(self):
        return [self.operator]

    @property
    def leaves(self):
        return [self.operator]


class TestChain:
    def test_pairs_neighbouring_lists_and_fans_around_single_tasks(self):
        with DAG("d", schedule=None) as dag:
            t1, t2, t3, t4, t5, t6 = tasks("t1", "t2", "t3", "t4", "t5", "t6")
            chain(t1, [t2, t3], [t4, t5], t6)

        assert upstream(dag) == {
            "t1": set(),
            "t2": {"t1"},
            "t3": {"t1"},
            "t4": {"t2"},
            "t5": {"t3"},
            "t6": {"t4", "t5"},
        }

    def test_lists_of_different_lengths_are_refused(self):
        with DAG("d", schedule=None):
            a, b, c = tasks("a", "b", "c")
            with pytest.raises(AirflowException) as info:
                chain([a, b], [c])
        assert str(info.value) == "Chain not supported for different length Iterable. Got 2 and 1."

    def test_non_tasks_are_refused(self):
        with pytest.raises(TypeError) as info:
            chain(1, 2)
        assert str(info.value) == "Chain not supported between instances of <class 'int'> and <class 'int'>"

    def test_groups_labels_and_other_participants_chain(self):
        with DAG("d", schedule=None) as dag:
            (t1,) = tasks("t1")
            with TaskGroup("g") as group:
                tasks("in_group")
            x1, x2 = tasks("x1", "x2")
            chain(t1, [Label("one"), Label("two")], [OutputOf(x1), x2], group)

        assert upstream(dag) == {"t1": set(), "g.in_group": {"x1", "x2"}, "x1": {"t1"}, "x2": {"t1"}}
        assert dag.edge_info == {"t1": {"x1": {"label": "one"}, "x2": {"label": "two"}}}


class TestCrossDownstream:
    def test_every_source_before_every_target(self):
        with DAG("d", schedule=None) as dag:
            t1, t2, t3, t4, t5 = tasks("t1", "t2", "t3", "t4", "t5")
            cross_downstream([t1, t2, t3], [t4, t5])

        assert upstream(dag)["t4"] == upstream(dag)["t5"] == {"t1", "t2", "t3"}

    def test_a_single_target(self):
        with DAG("d", schedule=None) as dag:
            t1, t2, t3 = tasks("t1", "t2", "t3")
            cross_downstream([t1, t2], t3)

        assert upstream(dag)["t3"] == {"t1", "t2"}


class TestChainLinear:
    def test_each_element_is_fully_upstream_of_the_next(self):
        with DAG("d", schedule=None) as dag:
            op1, op2, op3, op4, op5, op6, op7 = tasks("op1", "op2", "op3", "op4", "op5", "op6", "op7")
            chain_linear(op1, [op2, op3], [op4, op5, op6], op7)

        assert upstream(dag) == {
            "op1": set(),
            "op2": {"op1"},
            "op3": {"op1"},
            "op4": {"op2", "op3"},
            "op5": {"op2", "op3"},
            "op6": {"op2", "op3"},
            "op7": {"op4", "op5", "op6"},
        }

    def test_errors(self):
        with pytest.raises(ValueError, match=r"^No tasks provided; nothing to do\.$"):
            chain_linear()
        with DAG("d", schedule=None):
            a, b = tasks("a", "b")
            with pytest.raises(ValueError, match=r"^No dependencies were set\. Did you forget to expand with `\*`\?$"):
                chain_linear([a, b])
            with pytest.raises(ValueError, match=r"^Labels are not supported by chain_linear$"):
                chain_linear(a, Label("x"), b)


class TestShiftOperators:
    def test_a_participant_with_only_roots_and_leaves_takes_part_everywhere(self):
        with DAG("d", schedule=None) as dag:
            a, b, c, d = tasks("a", "b", "c", "d")
            out = OutputOf(b)
            result = a >> out >> c
            [OutputOf(c)] >> d
            d << OutputOf(a)

        assert result is c
        assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"b"}, "d": {"c", "a"}}

    def test_relating_tasks_of_two_dags_is_refused(self):
        with DAG("one", schedule=None):
            (a,) = tasks("a")
        with DAG("two", schedule=None):
            (b,) = tasks("b")
        with pytest.raises(AirflowException, match="Tried to set relationships between tasks in more than one DAG"):
            a >> b

    def test_a_task_without_a_dag_joins_its_neighbours_dag(self):
        loose = EmptyOperator(task_id="loose")
        with DAG("d", schedule=None) as dag:
            (a,) = tasks("a")
        a >> loose
        assert loose.dag is dag and dag.task_ids == ["a", "loose"]

    def test_tasks_without_any_dag_cannot_be_related(self):
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        with pytest.raises(AirflowException, match="Tried to create relationships between tasks that don't have DAGs"):
            a >> b

    def test_something_else_is_refused(self):
        with DAG("d", schedule=None):
            (a,) = tasks("a")
            with pytest.raises(AirflowException) as info:
                a >> "b"
        assert str(info.value) == "Relationships can only be set between Operators; received str"


class TestLabels:
    def test_a_label_records_edge_info_and_wires_the_edge(self):
        with DAG("d", schedule=None) as dag:
            a, b, c = tasks("a", "b", "c")
            a >> Label("go") >> b
            c << Label("back") << b

        assert upstream(dag) == {"a": set(), "b": {"a"}, "c": {"b"}}
        assert dag.edge_info == {"a": {"b": {"label": "go"}}, "b": {"c": {"label": "back"}}}
        assert dag.get_edge_info("a", "b") == {"label": "go"} and dag.get_edge_info("a", "c") == {}

    def test_lists_and_groups_on_either_side(self):
        with DAG("d", schedule=None) as dag:
            a, b = tasks("a", "b")
            with TaskGroup("g") as group:
                inner = EmptyOperator(task_id="inner")
            [a, b] >> Label("both") >> group

        assert upstream(dag)["g.inner"] == {"a", "b"}
        assert dag.get_edge_info("b", inner.task_id) == {"label": "both"}

    @pytest.mark.parametrize("operand", ["text", 3, None])
    def test_bad_operands(self, operand):
        with pytest.raises(TypeError) as info:
            Label("x") >> operand
        assert str(info.value) == (
            f"Cannot use edge labels with {type(operand).__name__}, only tasks, XComArg or TaskGroups"
        )

    def test_a_label_beside_a_label_is_refused(self):
        with pytest.raises(TypeError, match="Cannot use edge labels with EdgeModifier"):
            Label("x") >> Label("y")
