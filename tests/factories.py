"""What several test modules make: stored data sets and runs straight in the database (no training), small data
with a known truth, model settings and input shapes for every kind of data."""

import os
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from PIL import Image
from sqlalchemy import update

from db import explorer, repo
from db.models import Run
from db.session import session_scope
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from engine.models.configs import ModelConfigBase
from engine.models.registry import MODELS
from tests.conftest import ROOT


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


def ratings_run(dataset: dict, rmse: list[float], keep_best: bool = False, preset: str | None = None) -> dict:
    """A finished ratings run whose validation error went through rmse, one value per epoch."""
    config = {"model": {"name": "mf"}, "training": {"epochs": len(rmse), "keep_best": keep_best}, "split": {"seed": 0},
              "preset": preset}
    run = repo.create_run(dataset["id"], "mf", config, name="ratings")
    repo.log_metrics(run["id"], [("val_rmse", epoch * 10, value, float(epoch), 100.0 + epoch)
                                 for epoch, value in enumerate(rmse, start=1)]
                     + [("train_loss", epoch * 10, 1.0 / epoch, float(epoch), 100.0 + epoch)
                        for epoch in range(1, len(rmse) + 1)])
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            status="completed", started_at=datetime(2026, 3, 1, 12, 0), finished_at=datetime(2026, 3, 1, 12, 5)))
    return explorer.get_run(run["id"])


SPECS = {
    "tabular": {"kind": "tabular", "task": "classification", "n_features": 7, "n_outputs": 3,
                "number_edges": [[-1.0, 0.0, 1.0], [-2.0, -0.5, 0.0, 0.5, 2.0]]},  # two numeric columns first
    "image": {"kind": "image", "task": "classification", "channels": 3, "height": 32, "width": 32, "n_outputs": 10},
    "text": {"kind": "text", "task": "classification", "vocab_size": 60, "max_length": 16, "n_outputs": 4},
    "ratings": {"kind": "ratings", "task": "rating", "n_users": 12, "n_items": 9, "n_outputs": 1},
}


def inputs(spec: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Give back n synthetic examples shaped and typed as the data contract says for spec's kind."""
    kind = spec["kind"]
    if kind == "tabular":
        return rng.normal(size=(n, spec["n_features"])).astype(np.float32)
    if kind == "image":
        return rng.normal(size=(n, spec["channels"], spec["height"], spec["width"])).astype(np.float32)
    if kind == "text":
        tokens = rng.integers(1, spec["vocab_size"], size=(n, spec["max_length"]))
        lengths = rng.integers(1, spec["max_length"] + 1, size=n)
        tokens[np.arange(spec["max_length"]) >= lengths[:, None]] = 0  # padding after each text
        return tokens.astype(np.int64)
    users = rng.integers(0, spec["n_users"] + 1, size=n)
    items = rng.integers(0, spec["n_items"] + 1, size=n)
    return np.stack([users, items], 1).astype(np.int64)


def synthetic_data(spec: dict, n: int = 48, seed: int = 0) -> SimpleNamespace:
    """Give back what the data side prepares (arrays, preprocessing, spec): random splits shaped for spec."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "validation", "test"):
        x = inputs(spec, n, rng)
        if spec["task"] == "classification":
            y = rng.integers(0, spec["n_outputs"], size=n).astype(np.int64)
        else:
            y = rng.normal(size=n).astype(np.float32)
        arrays[split] = (x, y)
    preprocessing = {"kind": spec["kind"], "task": spec["task"], "target_mean": 3.5, "target_std": 1.2}
    return SimpleNamespace(arrays=arrays, preprocessing=preprocessing, spec=spec)


def model_config(name: str, **settings) -> ModelConfigBase:
    return RunConfig.model_validate({"model": {"name": name, **settings}}).model


def spec_for(name: str) -> dict:
    return SPECS[MODELS[name].kinds[0]]


FILLER = ["the", "a", "box", "came", "on", "time", "it", "was", "blue", "and", "my", "friend", "said", "this",
          "item", "looks", "fine", "for", "daily", "use", "we", "got", "two", "today"]


def train(dataset: dict, model: dict, **training) -> dict:
    """Train a run with the child-process runner and give back the finished run."""
    config = {"model": model, "training": {"epochs": 8, "batch_size": 32, "learning_rate": 0.01} | training}
    run = repo.create_run(dataset["id"], model["name"], RunConfig.model_validate(config).model_dump())
    result = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "TRAINYARD_THREADS": "1"})
    finished = repo.get_run(run["id"])
    assert finished["status"] == "completed", (finished["error"], result.stderr[-2000:])
    return finished


def sign_table(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """The label is the sign of 'decider'; the other columns are noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"noise_a": rng.normal(size=rows), "decider": rng.normal(size=rows),
                          "noise_b": rng.normal(size=rows), "colour": rng.choice(["red", "green", "blue"], rows)})
    frame["label"] = np.where(frame["decider"] > 0, "up", "down")
    return frame


def corner_zip(path, per_class: int = 60, side: int = 16, seed: int = 0):
    """Two classes of noisy grey pictures that differ only in their top-left corner: bright or dark."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        for label, corner in (("bright", 255), ("dark", 0)):
            for i in range(per_class):
                pixels = rng.integers(60, 196, size=(side, side)).astype(np.uint8)
                pixels[:6, :6] = corner  # the top-left corner, 6 × 6 of 16 × 16 pixels
                picture = path.parent / f"{label}_{i}.png"
                Image.fromarray(pixels, mode="L").save(picture)
                archive.write(picture, f"{label}/{i}.png")
    return path


def word_texts(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Texts of filler words; 'excellent' or 'awful', somewhere inside, decides the label."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        words = list(rng.choice(FILLER, size=int(rng.integers(6, 12))))
        good = bool(rng.integers(2))
        words.insert(int(rng.integers(len(words) + 1)), "excellent" if good else "awful")
        texts.append(" ".join(words))
        labels.append("good" if good else "bad")
    return pd.DataFrame({"review": texts, "label": labels})


FOOD = ["The soup was rich and full of flavour.", "I baked bread with rosemary and sea salt.",
        "This curry is far too spicy for my taste.", "Fresh pasta with butter and sage, simple and perfect.",
        "The chocolate cake came out dense and moist.", "We grilled sardines and ate them with lemon.",
        "Her pancakes are fluffy and sweet.", "A bowl of ramen with a soft egg on top.",
        "The salad needed more dressing.", "Slow-roasted lamb falls off the bone.",
        "My grandmother's apple pie recipe uses cinnamon.", "The cheese board had brie, cheddar and grapes.",
        "Stir the risotto until the rice is creamy.", "Tacos with pickled onions and lime."]


TRAVEL = ["Our flight landed in Lisbon late at night.", "The train from Vienna to Prague was delayed.",
          "We hiked along the coast and camped by the sea.", "Don't forget your passport at the border.",
          "The hotel room overlooked the old harbour.", "We rented a car to drive across Iceland.",
          "The museum in Madrid was crowded with tourists.", "A night bus took us over the mountains.",
          "Check-in at the airport took two hours.", "The ferry to the island leaves every morning.",
          "We got lost in the narrow streets of Venice.", "Book the hostel early in the summer season.",
          "The map showed a shorter path to the waterfall.", "Our luggage arrived a day after we did."]


def topics_dataset(folder: Path, name: str = "topics") -> dict:
    frame = pd.DataFrame({"text": FOOD + TRAVEL, "label": ["food"] * len(FOOD) + ["travel"] * len(TRAVEL)})
    frame.to_csv(folder / f"{name}.csv", index=False)
    return add_dataset(folder / f"{name}.csv", name=name, kind="text", target="label", text_column="text")
