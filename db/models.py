"""Database tables. These classes stay inside db/; the rest of the code gets plain dicts."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class RunStatus(StrEnum):
    """Where a run is: waiting for a worker, training, or how it ended. Stored as its plain value."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its worker stopped; it resumes from its last checkpoint when queued again
    PRUNED = "pruned"  # a sweep's trial that its pruner stopped early, as its curves were behind the others'


class SweepStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


RUN_STATUSES = tuple(status.value for status in RunStatus)  # as stored
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)  # waiting for a worker or training
FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.PRUNED)  # for good
SWEEP_STATUSES = tuple(status.value for status in SweepStatus)
SWEEP_METHODS = ("tpe", "random", "grid")
DATASET_KINDS = ("tabular", "image", "text", "ratings")
DATASET_TASKS = ("classification", "regression", "rating")
# What a signed-in person may do, from least to most (db/access.py says what each role may do).
ROLES = ("viewer", "editor", "admin")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def datetime_iso(value: datetime | None) -> str | None:
    """Give back a stored (UTC) time as ISO 8601 to the second with its Z, or None."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint(_in("kind", DATASET_KINDS), name="kind"),
        CheckConstraint(_in("task", DATASET_TASKS), name="task"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(String(200))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_columns: Mapped[int] = mapped_column(Integer)
    n_classes: Mapped[int | None] = mapped_column(Integer)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quality_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files_path: Mapped[str] = mapped_column(String(1000))
    source_name: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))  # who added it (db/access.py), None: before sign-in


class Worker(Base):
    """A worker process that claims runs; its heartbeat tells the dashboard it is alive."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index(None, "status", "created_at"),
        Index(None, "archived_at", "created_at"),  # the runs list: newest first, archived ones apart
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    model: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.QUEUED)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"))
    worker_host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(100))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    trial_number: Mapped[int | None] = mapped_column(Integer)  # the Optuna trial this run is, within its sweep
    created_by: Mapped[str | None] = mapped_column(String(320))  # who started it (db/access.py)


class RunMachine(Base):
    """A machine taking part in one try of a run spread over several (training.machines): machine 0 is the worker
    that claimed the run and hosts the meeting point (address:port) where the others' processes join it."""

    __tablename__ = "run_machines"
    __table_args__ = (UniqueConstraint("run_id", "attempt", "machine"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    machine: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"))
    host: Mapped[str] = mapped_column(String(255))
    devices: Mapped[str] = mapped_column(String(20), default="cpu")  # 'cuda' or 'cpu': every machine trains on one kind
    endpoint: Mapped[str | None] = mapped_column(String(300))  # machine 0's address:port, where the others meet
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Sweep(Base):
    """A search over settings: its trials are runs, its sampler's memory an Optuna study (engine/search)."""

    __tablename__ = "sweeps"
    __table_args__ = (
        CheckConstraint(_in("status", SWEEP_STATUSES), name="status"),
        CheckConstraint(_in("method", SWEEP_METHODS), name="method"),
        CheckConstraint(_in("direction", ("minimize", "maximize")), name="direction"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    study_name: Mapped[str] = mapped_column(String(200), unique=True)
    models: Mapped[list[Any]] = mapped_column(JSON)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)  # setting → {low, high, log} or {choices}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # fixed settings laid over the preset
    preset: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    pruner: Mapped[str] = mapped_column(String(20))
    metric: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(10))
    trials: Mapped[int] = mapped_column(Integer)
    parallel: Mapped[int] = mapped_column(Integer)
    budget_seconds: Mapped[float | None] = mapped_column(Float)
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=SweepStatus.RUNNING)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(Text)  # the closing sentence: the best run, and by how much


class MetricPoint:
    """The columns of one point of a run's curve: which run, which figure, at which step, its value and when."""

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    epoch: Mapped[float | None] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class Metric(MetricPoint, Base):
    __tablename__ = "metrics"


class MetricSummary(Base):
    __tablename__ = "metric_summary"
    # The runs list's metric choices and their ranges, read from the index alone.
    __table_args__ = (Index(None, "key", "max_value", "min_value"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_value: Mapped[float] = mapped_column(Float)
    last_step: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float] = mapped_column(Float)
    min_step: Mapped[int] = mapped_column(BigInteger)
    max_value: Mapped[float] = mapped_column(Float)
    max_step: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    # Long curves keep per-block extremes in metric_extremes for steps below extremes_through.
    # Rewriting a summary row resets both, so stale extremes are never read.
    extremes_through: Mapped[int | None] = mapped_column(BigInteger)
    extremes_block: Mapped[int | None] = mapped_column(BigInteger)


class MetricExtreme(MetricPoint, Base):
    """The lowest and highest point of each block of steps of a long curve, so its chart skips the rest."""

    __tablename__ = "metric_extremes"


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    path: Mapped[str] = mapped_column(String(1000))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RunEvent(Base):
    __tablename__ = "run_events"
    __table_args__ = (
        CheckConstraint(_in("level", ("info", "warning", "error")), name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # status | log | warning
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)


class User(Base):
    """A person who may sign in: by OpenID Connect (no password here) or with a local password (Argon2 hash)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords since the last good one
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)  # no sign-in before this after many failures


class AuditEvent(Base):
    """Who did what, when and from where: uploads, runs, cancels, deletions, exports, services, roles."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "at"), Index(None, "actor", "at"), Index(None, "action", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(500))  # "run 7", "data set 'customers'", "user a@b.c"
    detail: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(100))  # the browser's address, or "command line"
