"""engine indexes: task instances by run and state

The scheduler counts a run's task instances per state on every pass (to see whether the run needs
examining); this index answers that without reading the rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.create_index("idx_ti_dag_run_state", ["dag_id", "run_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_index("idx_ti_dag_run_state")
