"""What the stable API (v1) reads and writes beyond the experimental one: notes on runs and task
instances, dag_run.updated_at and clear_number, task_instance_history (one row per finished earlier try,
for /tries), dag_warning, and the audit log's task-level columns (Airflow's `log` table).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = 250


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True)

    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("updated_at", timestamp, nullable=True))
        batch.add_column(sa.Column("clear_number", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("task_id", sa.String(ID), nullable=True))
        batch.add_column(sa.Column("run_id", sa.String(ID), nullable=True))
        batch.add_column(sa.Column("map_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("try_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("execution_date", timestamp, nullable=True))

    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(ID), nullable=False),
        sa.Column("run_id", sa.String(ID), nullable=False),
        sa.Column("task_id", sa.String(ID), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=True),
        sa.Column("max_tries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("start_date", timestamp, nullable=True),
        sa.Column("end_date", timestamp, nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hostname", sa.String(1000), nullable=False, server_default=""),
        sa.Column("unixname", sa.String(1000), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("pool", sa.String(256), nullable=False, server_default="default_pool"),
        sa.Column("pool_slots", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("queue", sa.String(256), nullable=False, server_default="default"),
        sa.Column("priority_weight", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("operator", sa.String(1000), nullable=True),
        sa.Column("custom_operator_name", sa.String(1000), nullable=True),
        sa.Column("queued_dttm", timestamp, nullable=True),
        sa.Column("queued_by_job_id", sa.Integer(), nullable=True),
        sa.Column("executor", sa.String(1000), nullable=True),
        sa.Column("executor_config", sa.JSON(), nullable=True),
        sa.Column("external_executor_id", sa.String(250), nullable=True),
        sa.Column("rendered_map_index", sa.String(250), nullable=True),
        sa.Column("updated_at", timestamp, nullable=True),
        sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="task_instance_history_key"),
    )
    op.create_table(
        "dag_warning",
        sa.Column("dag_id", sa.String(ID), primary_key=True),
        sa.Column("warning_type", sa.String(50), primary_key=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("timestamp", timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dag_warning")
    op.drop_table("task_instance_history")
    with op.batch_alter_table("audit_log") as batch:
        for name in ("execution_date", "try_number", "map_index", "run_id", "task_id"):
            batch.drop_column(name)
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("dag_run") as batch:
        for name in ("clear_number", "updated_at", "note"):
            batch.drop_column(name)
