"""Reading ahead: while its worker has no run to train, the waiting run process (the spare, engine.jobs.runner) reads
the newest text and picture sets through the frozen pretrained network their first run starts from, and keeps those
features in the data set's folder (engine.training.encoded). That run then starts training at once. On one CPU
thread, 1,500 short reviews take the network about 10 seconds to read, and 38,000 tweets about 3 minutes.

It reads a few examples at a time on one CPU thread, leaving the other cores to the dashboard, and stops between two
steps when a run is handed over; what it has read is kept (every 10 seconds as it goes too, so that an estimate
counts it), and the run reads only the rest.
`TRAINYARD_READ_AHEAD=0` turns it off (engine.jobs.worker never tells its spare it is idle).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from db import repo

SETTING = "TRAINYARD_READ_AHEAD"
NEWEST = 5  # data sets looked at, newest first: older ones have had their first run, or may never have one
LOOK_SECONDS = 5.0  # how often the list of data sets is looked at again while there is nothing to read
# Examples a step, by kind: under a second on one thread, so that a run handed over waits no longer than that.
STEP = {"text": 32, "image": 8}
KEEP_SECONDS = 10.0  # what was read is kept this often, so that an estimate meanwhile counts it


def enabled() -> bool:
    return os.environ.get(SETTING, "1") != "0"


def reading_for(dataset: dict[str, Any]):
    """Give back the Reading (engine.training.encoded) of the features a Balanced run of dataset with its suggested
    model would read first, or None when that run reads none, or they are kept already."""
    import torch  # here: the worker reads enabled() without loading torch
    from engine.config import validate_run_config
    from engine.data.prepare import prepare_dataset
    from engine.data.prepared import features_path
    from engine.models.registry import build_model, data_options
    from engine.presets import starting_config, suggested_model
    from engine.training.encoded import Reading, stored_examples, trains_whole_model

    if dataset["kind"] not in ("text", "image") or not Path(dataset["files_path"]).exists():
        return None
    name = suggested_model(dataset)
    config = validate_run_config(starting_config(dataset, name))
    key = getattr(config.model, "encoder_key", None)
    if not key or features_path(dataset, key).exists():
        return None
    split = config.split
    data = prepare_dataset(dataset, split.validation_fraction, split.test_fraction, split.seed, **data_options(name))
    model = build_model(config.model, data.spec, seed=config.training.seed)
    if trains_whole_model(model) or getattr(model, "tunes_on_pairs", False):
        return None  # the run's features are its own
    stored = stored_examples(data)
    if stored is None:
        return None
    return Reading(model.encoder, stored, features_path(dataset, key), torch.device("cpu"), step=STEP[dataset["kind"]])


class ReadAhead:
    """Reads ahead, one step at a time, whichever of the newest data sets needs it."""

    def __init__(self):
        self.reading = None
        self.looked: set[int] = set()  # data sets found read, or without a pretrained network, or failing
        self.last_look = -float("inf")
        self.last_kept = time.monotonic()

    def step(self) -> bool:
        """Read a few examples; give back False when nothing is left to read for now."""
        if self.reading is None and not self._next():
            return False
        try:
            if self.reading.step():
                if time.monotonic() - self.last_kept >= KEEP_SECONDS:
                    self.reading.keep()
                    self.last_kept = time.monotonic()
                return True
        except Exception:  # never the worker's trouble: its first run reads the data set as it would have
            pass
        self.stop()
        return True

    def stop(self) -> None:
        """Keep what was read; a run handed over, or the worker gone."""
        if self.reading is not None:
            self.reading.keep()
            self.reading = None

    def _next(self) -> bool:
        if time.monotonic() - self.last_look < LOOK_SECONDS:
            return False
        self.last_look = time.monotonic()
        for dataset in repo.list_datasets(limit=NEWEST):
            if dataset["id"] in self.looked:
                continue
            self.looked.add(dataset["id"])
            try:
                self.reading = reading_for(dataset)
            except Exception:  # a data set its run would refuse: that run says why
                self.reading = None
            if self.reading is not None:
                return True
        return False
