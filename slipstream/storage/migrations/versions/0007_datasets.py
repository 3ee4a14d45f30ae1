"""datasets: dataset, dataset_alias, dataset_event, dataset_dag_run_queue, the DAG/task references and
dagrun_dataset_event (Airflow 2.10's tables)

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = 250
URI = 3000


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(URI), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.Column("is_orphaned", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("uri", name="idx_uri_unique"),
    )
    op.create_table(
        "dataset_alias",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(URI), nullable=False),
        sa.UniqueConstraint("name", name="idx_name_unique"),
    )
    op.create_table(
        "dataset_alias_dataset",
        sa.Column("alias_id", sa.Integer(), primary_key=True),
        sa.Column("dataset_id", sa.Integer(), primary_key=True),
    )
    op.create_table(
        "dataset_event",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("source_task_id", sa.String(ID), nullable=True),
        sa.Column("source_dag_id", sa.String(ID), nullable=True),
        sa.Column("source_run_id", sa.String(ID), nullable=True),
        sa.Column("source_map_index", sa.Integer(), nullable=True, server_default=sa.text("-1")),
        _when("timestamp"),
    )
    op.create_index("idx_dataset_id_timestamp", "dataset_event", ["dataset_id", "timestamp"])
    op.create_table(
        "dataset_dag_run_queue",
        sa.Column("dataset_id", sa.Integer(), primary_key=True),
        sa.Column("target_dag_id", sa.String(ID), primary_key=True),
        _when("created_at"),
    )
    op.create_index("idx_dataset_dag_run_queue_target_dag_id", "dataset_dag_run_queue", ["target_dag_id"])
    op.create_table(
        "dag_schedule_dataset_reference",
        sa.Column("dataset_id", sa.Integer(), primary_key=True),
        sa.Column("dag_id", sa.String(ID), primary_key=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("idx_dag_schedule_dataset_reference_dag_id", "dag_schedule_dataset_reference", ["dag_id"])
    op.create_table(
        "dag_schedule_dataset_alias_reference",
        sa.Column("alias_id", sa.Integer(), primary_key=True),
        sa.Column("dag_id", sa.String(ID), primary_key=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_table(
        "task_outlet_dataset_reference",
        sa.Column("dataset_id", sa.Integer(), primary_key=True),
        sa.Column("dag_id", sa.String(ID), primary_key=True),
        sa.Column("task_id", sa.String(ID), primary_key=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("idx_task_outlet_dataset_reference_dag_id", "task_outlet_dataset_reference", ["dag_id"])
    op.create_table(
        "dagrun_dataset_event",
        sa.Column("dag_run_id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), primary_key=True),
    )
    op.create_index("idx_dagrun_dataset_events_event_id", "dagrun_dataset_event", ["event_id"])


def downgrade() -> None:
    for table in (
        "dagrun_dataset_event",
        "task_outlet_dataset_reference",
        "dag_schedule_dataset_alias_reference",
        "dag_schedule_dataset_reference",
        "dataset_dag_run_queue",
        "dataset_event",
        "dataset_alias_dataset",
        "dataset_alias",
        "dataset",
    ):
        op.drop_table(table)
