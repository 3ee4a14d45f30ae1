"""serialized_dag (dag_id, dag_hash) index: the hashes of many DAGs without reading their data

A serialized DAG's row holds its JSON (tens of kB) before dag_hash; on SQLite, reading the hash walks
the data's overflow pages, about as much as the rest of a DAG list's query. Lists that need the DAGs'
hashes (to reuse what was parsed or rendered for that hash) read them from this index instead.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_serialized_dag_hash", "serialized_dag", ["dag_id", "dag_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_serialized_dag_hash", table_name="serialized_dag")
