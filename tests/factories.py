"""Stored data sets and runs for tests, made straight in the database (no training): shared by the test modules."""

from datetime import datetime

from sqlalchemy import update

from db import explorer, repo
from db.models import Run
from db.session import session_scope


def make_dataset(name: str, kind: str = "tabular") -> dict:
    return repo.create_dataset(name=name, kind=kind, task="classification", target="label", n_rows=100,
                               n_columns=3, schema={}, quality_report={}, files_path="/nowhere", sha256="0" * 64)


def make_run(dataset: dict, model: str = "mlp", name: str | None = None, status: str = "completed",
             tags: list[str] | None = None, lr: float = 0.001, accuracy: float | None = None,
             created: datetime | None = None, points: int = 20) -> dict:
    """A run with a falling training loss, validation curves reaching `accuracy`, and a test result."""
    config = {"model": {"name": model, "dropout": 0.1}, "training": {"learning_rate": lr, "epochs": 2},
              "split": {"seed": 0}}
    run = repo.create_run(dataset["id"], model, config, name=name, tags=tags)
    if accuracy is not None:
        loss = 1.2 - accuracy
        repo.log_metrics(run["id"], [("train_loss", s, loss + 1.0 / s, s / 10, 100.0 + s) for s in range(1, points + 1)]
                         + [("val_loss", s, loss + 0.5 / s, s / 10, 100.0 + s) for s in (points // 2, points)]
                         + [("val_accuracy", s, accuracy * s / points, s / 10, 100.0 + s) for s in (points // 2, points)]
                         + [("test_accuracy", points, accuracy - 0.02, 2.0, 200.0)])
    values = {"status": status}
    if status != "queued":
        values["started_at"] = datetime(2026, 3, 1, 12, 0)
    if status in ("completed", "failed", "cancelled"):
        values["finished_at"] = datetime(2026, 3, 1, 12, 5)
    if created:
        values["created_at"] = created
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(**values))
    return run


def ratings_run(dataset: dict, rmse: list[float], keep_best: bool = False) -> dict:
    """A finished ratings run whose validation error went through rmse, one value per epoch."""
    config = {"model": {"name": "mf"}, "training": {"epochs": len(rmse), "keep_best": keep_best}, "split": {"seed": 0}}
    run = repo.create_run(dataset["id"], "mf", config, name="ratings")
    repo.log_metrics(run["id"], [("val_rmse", epoch * 10, value, float(epoch), 100.0 + epoch)
                                 for epoch, value in enumerate(rmse, start=1)]
                     + [("train_loss", epoch * 10, 1.0 / epoch, float(epoch), 100.0 + epoch)
                        for epoch in range(1, len(rmse) + 1)])
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            status="completed", started_at=datetime(2026, 3, 1, 12, 0), finished_at=datetime(2026, 3, 1, 12, 5)))
    return explorer.get_run(run["id"])
