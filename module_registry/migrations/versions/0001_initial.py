"""The registry's first tables: modules, packages, installations, health.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "modules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("company_id", sa.String(128), nullable=False, index=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_modules_name_version"),
    )
    op.create_index("ix_modules_status_name", "modules", ["status", "name"])
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("module_id", sa.Integer, sa.ForeignKey("modules.id"), nullable=False, unique=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "installations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("company_id", sa.String(128), nullable=False, index=True),
        sa.Column("module_id", sa.Integer, sa.ForeignKey("modules.id"), nullable=False),
        sa.Column("module_name", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.UniqueConstraint("company_id", "module_name", name="uq_installations_company_module"),
    )
    op.create_table(
        "health",
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("reported_at", _TIME, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("health")
    op.drop_table("installations")
    op.drop_table("packages")
    op.drop_index("ix_modules_status_name", table_name="modules")
    op.drop_table("modules")
