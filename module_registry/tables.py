"""The registry's tables as SQLAlchemy 2 mapped classes (the migrations create them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def now() -> datetime:
    """The current time, in UTC (every timestamp the registry writes)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The registry's tables."""


class Module(Base):
    """One version of one module, as published."""

    __tablename__ = "modules"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_modules_name_version"),
        Index("ix_modules_status_name", "status", "name"),
        Index("ix_modules_name_id", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="", index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    company_id: Mapped[str] = mapped_column(String(128), index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    package: Mapped[Package | None] = relationship(back_populates="module", lazy="joined")


class Package(Base):
    """The wheel of one module version: where it is stored, its SHA256 and size."""

    __tablename__ = "packages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    module: Mapped[Module] = relationship(back_populates="package")


class Installation(Base):
    """One company's use of one module, with its own config; one per company and module name."""

    __tablename__ = "installations"
    __table_args__ = (UniqueConstraint("company_id", "module_name", name="uq_installations_company_module"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[str] = mapped_column(String(128), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"))
    module_name: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    module: Mapped[Module] = relationship(lazy="selectin")
    health: Mapped[Health] = relationship(lazy="selectin", cascade="all, delete-orphan", uselist=False)


class Health(Base):
    """The last health an app reported for one installation."""

    __tablename__ = "health"

    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    reason: Mapped[str] = mapped_column(Text, default="")
    instance: Mapped[str] = mapped_column(String(200), default="")
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
