"""task_reschedule and trigger tables; task_instance gains Airflow's deferral columns

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_reschedule",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("reschedule_date", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idx_task_reschedule_ti", "task_reschedule", ["dag_id", "run_id", "task_id", "map_index"])
    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("classpath", sa.String(1000), nullable=False),
        sa.Column("kwargs", sa.Text(), nullable=False),
        sa.Column("created_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triggerer_id", sa.Integer(), nullable=True),
    )
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("trigger_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trigger_timeout", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_method", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("next_kwargs", sa.JSON(), nullable=True))
    op.create_index("idx_ti_trigger_id", "task_instance", ["trigger_id"])


def downgrade() -> None:
    op.drop_index("idx_ti_trigger_id", table_name="task_instance")
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("next_kwargs")
        batch.drop_column("next_method")
        batch.drop_column("trigger_timeout")
        batch.drop_column("trigger_id")
    op.drop_table("trigger")
    op.drop_index("idx_task_reschedule_ti", table_name="task_reschedule")
    op.drop_table("task_reschedule")
