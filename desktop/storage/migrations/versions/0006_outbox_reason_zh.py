"""outbox: the server's reason for a refused outcome in Chinese too

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

The server names why it refused an outcome in English (`reason`) and Chinese (`reason_zh`); the panel shows
the one of the agent's language in "needs attention". Rows refused before this keep their English reason.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("server_reason_zh", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("server_reason_zh")
