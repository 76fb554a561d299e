"""A small trained run for serving and evaluation tests, trained by the real runner in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from db import repo
from engine.config import RunConfig
from engine.data.ingest import add_dataset
from tests.conftest import ROOT, make_table


def train_run(dataset: dict, model: str = "mlp", hidden_sizes: tuple[int, ...] = (16,), members: int = 1,
              model_settings: dict | None = None, **settings) -> dict:
    """Train a run on dataset with the child-process runner (no worker needed) and give back the finished run;
    settings are training settings, model_settings those of the model."""
    config = {"model": ({"name": model, "hidden_sizes": list(hidden_sizes), "members": members} if model == "mlp"
                        else {"name": model}) | (model_settings or {}),
              "training": {"epochs": 4, "batch_size": 32, "learning_rate": 0.01} | settings}
    run = repo.create_run(dataset["id"], model, RunConfig.model_validate(config).model_dump())
    result = subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TRAINYARD_THREADS": "1"})
    finished = repo.get_run(run["id"])
    assert finished["status"] == "completed", (finished["error"], result.stderr[-2000:])
    return finished


def table_dataset(folder: Path, rows: int = 300, classes: int = 2, name: str = "shop", gaps: bool = False,
                  dates: bool = False, notes: bool = False) -> dict:
    """Add a small learnable table (tests.conftest.make_table); with gaps, every tenth row lacks its 'x2'; with
    dates, a column 'sold' of dates written as text (2021-03-05), every tenth empty; with notes, a column 'note'
    of sentences (note_texts)."""
    path = folder / f"{name}.csv"
    frame = make_table(rows=rows, classes=classes)
    if gaps:
        frame.loc[frame.index % 10 == 3, "x2"] = None
    if dates:
        frame.insert(0, "sold", sold_dates(rows))
    if notes:
        frame.insert(2, "note", note_texts(frame["label"].tolist()))
    frame.to_csv(path, index=False)
    return add_dataset(path, name=name)


NOTE_WORDS = ("calm", "urgent", "fragile", "heavy")  # the word of class_0, class_1 …


def note_texts(labels: list[str]) -> list[str | None]:
    """Give back a sentence per label that holds its class's word of NOTE_WORDS, and its row's number (a word of
    one row only), every twentieth None."""
    return [None if i % 20 == 9 else
            f"Order {i}: the customer asked for a {NOTE_WORDS[int(label.split('_')[1])]} delivery of the parcel."
            for i, label in enumerate(labels)]


def sold_dates(rows: int, seed: int = 0) -> list[str | None]:
    """Give back rows dates of 2021 and 2022 written as text (2021-03-05), every tenth None."""
    import numpy as np
    import pandas as pd

    days = np.random.default_rng(seed).integers(0, 730, rows)
    dates = (pd.Timestamp("2021-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    return [None if i % 10 == 7 else date for i, date in enumerate(dates)]
