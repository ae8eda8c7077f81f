"""An index in the list's order (name, id): a page of modules is read in index order, not sorted.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_modules_name_id", "modules", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_modules_name_id", table_name="modules")
