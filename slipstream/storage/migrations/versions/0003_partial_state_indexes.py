"""partial state indexes: task instances without a state are left out

A run's task instances are created without a state, and the queries these indexes serve (the
scheduled ones, the ones occupying pool slots, the running ones) all ask for a state. Left out of
both indexes, a new task instance costs two index insertions fewer, and the indexes stay smaller.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_HAS_STATE = "state IS NOT NULL"


def _create(where: str | None) -> None:
    partial = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)} if where else {}
    op.create_index("idx_ti_pool", "task_instance", ["pool", "state"], unique=False, **partial)
    op.create_index("idx_ti_state", "task_instance", ["state"], unique=False, **partial)


def upgrade() -> None:
    op.drop_index("idx_ti_pool", table_name="task_instance")
    op.drop_index("idx_ti_state", table_name="task_instance")
    _create(_HAS_STATE)


def downgrade() -> None:
    op.drop_index("idx_ti_pool", table_name="task_instance")
    op.drop_index("idx_ti_state", table_name="task_instance")
    _create(None)
