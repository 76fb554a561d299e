"""How long a run will take and the memory it needs: a short measurement of this computer, corrected by the runs
it has finished.

The arithmetic (engine.models.estimate.time_estimate) prices a run from the calibration's seconds per step and
per unit of work. What it leaves out (preparing the data, the classical reference, the evaluation, the data
loader, other work on the computer) differs per model and data set, so each finished run tells how far off the
arithmetic was for it: the seconds its training took (less its start) over their price at the steps it really took.
A new run's training price is scaled by the ratio of the finished runs most like it (same model and data set first)
whose training was long enough to tell, and its steps by the share of them that early stopping let those runs take.
The range widens when the runs behind it are few or unlike it. No torch here: the pages call it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from db import repo
from db.models import RunStatus
from engine.calibrate import load_calibration
from engine.config import RunConfig, validate_run_config
from engine.data.prepared import features_path, left_to_read
from engine.errors import UserError
from engine.models.estimate import (RUN_START_SECONDS, MemoryEstimate, dataset_spec, encoding_seconds,
                                    memory_estimate, training_seconds, training_steps, tuning_seconds)
from engine.words import human_seconds
from engine.models.registry import model_size
from engine.models.pairs import TUNING_LOSS, pair_count
from engine.models.zoo.mlp import number_ranges

HISTORY_RUNS = 200  # the newest finished runs read for the correction
# A run whose training was priced at less than this is mostly its start: it tells too little about training steps
# to correct them (a Quick run of 4,454 table rows took 0.8 s, its steps priced at 0.6 s and its start at 1 s).
TELLING_SECONDS = 2.0
LEAST_RATIO = 0.1  # a run that took less than its start still took some time to train
SIMILAR_RUNS = 5  # at most this many of the most alike runs decide it
# How far the truth may lie from the estimate (a factor either way), by what the estimate rests on.
SPREAD_MEASURED_ONLY = 2.0  # the calibration alone: nothing this computer trained is like the run
SPREAD_LEAST, SPREAD_MOST = 1.25, 2.0
# Before any run with early stopping has finished here, a run with it is expected to take this share of its
# steps (the real data sets' Balanced runs took 30–100 % of theirs, most around 70 %).
EARLY_STOP_SHARE = 0.7
# How alike a finished run is to the new one; the best level with any run decides.
# A run of the same preset on another data set comes before one of another preset on this one: the preset shapes
# the network (Balanced's four members and ranges of numbers against Quick's one network), and a Quick run's steps
# took 0.78 of their price where Balanced's took 1.1 on the same table.
LEVELS = ("the same model and preset on this data set", "the same model and preset on other data sets",
          "the same model on this data set", "the same model on other data sets", "other models on this kind of data")


@dataclass(frozen=True)
class RunEstimate:
    parameters: int
    memory: MemoryEstimate
    exact: bool  # the data set's prepared shape was known (else parameters and memory are close guesses)
    n_train: int  # the training split's examples
    steps: int  # training steps if every epoch runs
    early_stopping: bool
    device: str | None  # the device the calibration measured ('cpu', 'cuda'), None when not measured
    seconds: float | None = None  # most likely; None when this computer was never measured
    low: float | None = None
    high: float | None = None
    basis: str = ""  # what the figure rests on, in a sentence
    learned_from: list[int] = field(default_factory=list)  # the finished runs that corrected it

    @property
    def words(self) -> str:
        """'about 2 minutes (1–3 minutes)', or 'not measured yet'."""
        if self.seconds is None:
            return "not measured yet"
        return f"{human_seconds(self.seconds)} ({human_range(self.low, self.high)})"

    def document(self) -> dict[str, Any]:
        return {"seconds": _round(self.seconds), "low": _round(self.low), "high": _round(self.high),
                "words": self.words, "basis": self.basis, "learned_from_runs": self.learned_from,
                "early_stopping": self.early_stopping, "steps": self.steps, "device": self.device,
                "parameters": self.parameters, "exact": self.exact,
                "memory_bytes": self.memory.total, "memory": {
                    k: getattr(self.memory, k) for k in ("weights", "gradients", "optimizer", "activations", "data")}}


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def human_range(low: float, high: float) -> str:
    """Give back a range of durations in words: '20–50 seconds', '1–3 minutes', '2 minutes–1.5 hours'."""
    high = max(low, high)
    units = (("seconds", 1, 90), ("minutes", 60, 5400), ("hours", 3600, math.inf))

    def said(seconds: float, unit: tuple[str, int, float]) -> float:
        name, size, _ = unit
        if name == "seconds":
            return round(seconds / 10) * 10 if seconds >= 10 else max(1, round(seconds))
        return round(seconds / size) if name == "minutes" else round(seconds / size, 1)

    high_unit = next(unit for unit in units if high < unit[2])
    low_unit = high_unit if said(low, high_unit) >= 1 else next(unit for unit in units if low < unit[2])
    a, b = said(low, low_unit), said(high, high_unit)
    if low_unit != high_unit:
        return f"{a:g} {low_unit[0]}–{b:g} {high_unit[0]}"
    return f"{a:g}–{b:g} {high_unit[0]}" if b > a else f"about {a:g} {high_unit[0]}"


def _training_rows(n_rows: int, config: RunConfig) -> int:
    return max(1, round(n_rows * (1 - config.split.validation_fraction - config.split.test_fraction)))


def _early_stopping(config: RunConfig) -> bool:
    """Whether early stopping can end the run before its last epoch."""
    patience = config.training.early_stopping_patience
    return bool(patience) and patience < config.training.epochs


@dataclass(frozen=True)
class _Priced:
    """A run's arithmetic price at every step, and what it needs to price it at a share of its steps."""

    config: RunConfig
    dataset: dict[str, Any]
    size: Any
    spec: dict[str, Any]
    exact: bool
    n_train: int

    def seconds(self, calibration: dict[str, Any], share: float = 1.0, ratio: float = 1.0) -> float:
        """Give back the price of starting, and of training at share of the steps scaled by ratio."""
        return self.start + ratio * self.work(calibration, share)

    @property
    def start(self) -> float:
        """Give back the seconds priced for starting and ending the run (its data, reference and evaluation)."""
        return RUN_START_SECONDS[self.dataset["kind"]]

    def work(self, calibration: dict[str, Any], share: float = 1.0) -> float:
        """Give back the seconds priced for the training steps (not the start, not the encoder's reading)."""
        t = self.config.training
        folds = max(1, self.config.split.folds)
        n_train = self.n_train * (folds - 1) // folds if folds > 1 else self.n_train
        # Several processes share each epoch's examples evenly, each stepping through batches of its own size.
        n_train = -(-n_train // t.total_processes)
        return folds * training_seconds(self.size, n_train, t.batch_size, t.epochs, calibration, share)

    def encoding(self, calibration: dict[str, Any]) -> float:
        """Give back the price of reading every example through a frozen pretrained encoder once, after tuning it
        on pairs of the training examples where the model does."""
        return (encoding_seconds(self.size, self.dataset["n_rows"], calibration)
                + tuning_seconds(self.size, pair_count(self.n_train), calibration))


def _price(config: RunConfig, dataset: dict[str, Any]) -> _Priced:
    spec, exact = dataset_spec(dataset)
    n_train = _training_rows(dataset["n_rows"], config)
    if not exact and spec.get("number_columns"):
        spec["number_edges"] = _guessed_edges(spec["number_columns"], n_train)
    return _Priced(config, dataset, model_size(config.model, spec), spec, exact, n_train)


def _guessed_edges(number_columns: int, n_train: int) -> list[list[float]]:
    """Give back stand-in range edges for a table's numeric columns: as many ranges as its preparation gives each
    (fewer where a column has fewer distinct values, which the schema does not say), so that a network that reads
    numbers by range is priced with those inputs."""
    ranges = number_ranges(number_columns, n_train)
    return [[float(edge) for edge in range(ranges + 1)] for _ in range(number_columns)]


def _steps_done(run: dict[str, Any]) -> int:
    """Give back how many training steps a run took (the tuning on pairs before them counts its own steps)."""
    return int(max((summary.get("last_step") or 0 for key, summary in (run.get("metrics") or {}).items()
                    if key != TUNING_LOSS), default=0))


@dataclass(frozen=True)
class _Finished:
    run_id: int
    model: str
    dataset_id: int
    kind: str
    ratio: float  # seconds its training took (less its start and its encoder's reading) / their price
    telling: bool  # its training was priced at TELLING_SECONDS or more: long enough to correct the price
    share: float | None  # share of its steps it took, for runs with early stopping
    encoding_ratio: float | None  # seconds its encoder took to read the data set / their price, when it read it
    tuned: bool = False  # its encoder was tuned on pairs before reading: that share of its reading is priced apart
    preset: str | None = None  # the preset its settings started from


def _finished_runs(calibration: dict[str, Any], device: str) -> list[_Finished]:
    """Give back what this computer's newest finished runs on device teach, newest first."""
    datasets: dict[int, dict[str, Any] | None] = {}
    # a run that was interrupted and resumed took its time in pieces: it teaches nothing about a whole run
    runs = [r for r in repo.list_runs(limit=HISTORY_RUNS, statuses=[RunStatus.COMPLETED])
            if r["started_at"] and r["finished_at"] and (r["attempts"] or 1) == 1]
    found = []
    for run in sorted(runs, key=lambda r: r["started_at"]):
        if (run["device"] or "cpu").split(":")[0] != device:
            continue
        if run["dataset_id"] not in datasets:
            datasets[run["dataset_id"]] = repo.get_dataset(run["dataset_id"])
        dataset = datasets[run["dataset_id"]]
        try:
            config = validate_run_config(run["config"])
            priced = _price(config, dataset)
        except (UserError, KeyError, TypeError, ValueError):
            continue  # an older run whose settings this version no longer reads
        if config.training.total_processes > 1:
            continue  # its time is also its processes' communication, which the price leaves out
        total = training_steps(priced.n_train, config.training.batch_size, config.training.epochs)
        share = min(1.0, _steps_done(run) / total) if total else 1.0
        environment = run.get("environment") or {}
        # less the wait for its process to be ready, which no estimate prices
        took = (run["finished_at"] - run["started_at"]).total_seconds() - (environment.get("start_wait_seconds") or 0)
        encoding_seconds = environment.get("encoding_seconds")
        encoding_ratio = None
        if encoding_seconds:  # the run read the data set through its encoder first: learn that apart
            took -= encoding_seconds
            # the share it read itself: the rest was read ahead, or by a run stopped part way
            price = priced.encoding(calibration) * environment.get("encoding_share", 1.0)
            encoding_ratio = encoding_seconds / price if price > 0 else None
        work = priced.work(calibration, share=max(share, 1e-3))
        if took > 0 and work > 0:
            ratio = max(took - priced.start, LEAST_RATIO * work) / work
            found.append(_Finished(run["id"], run["model"], run["dataset_id"], dataset["kind"], ratio,
                                   work >= TELLING_SECONDS, share if _early_stopping(config) else None, encoding_ratio,
                                   priced.size.tuning_per_pair > 0, config.preset))
    return found[::-1]


def _alike(history: Iterable[_Finished], config: RunConfig, dataset: dict[str, Any]) -> tuple[list[_Finished], int]:
    """Give back the finished runs most like the new one (newest first) and their level in LEVELS."""
    model, preset = config.model.name, config.preset
    tests = (lambda f: f.model == model and f.preset == preset and f.dataset_id == dataset["id"],
             lambda f: f.model == model and f.preset == preset,
             lambda f: f.model == model and f.dataset_id == dataset["id"],
             lambda f: f.model == model,
             lambda f: f.kind == dataset["kind"])
    history = list(history)
    for level, test in enumerate(tests):
        alike = [f for f in history if test(f)][:SIMILAR_RUNS]
        if alike:
            return alike, level
    return [], len(LEVELS)


def estimate_run(config: RunConfig | dict[str, Any], dataset: dict[str, Any],
                 histories: dict[str, list[_Finished]] | None = None) -> RunEstimate:
    """Give back how long a run of config on dataset should take here, and the memory it needs.

    histories: what the finished runs teach, by device, kept between calls by a caller that estimates many runs
    (queue_waits) so that they are read once. Raises UserError when the settings do not fit the data set.
    """
    config = config if isinstance(config, RunConfig) else validate_run_config(config)
    priced = _price(config, dataset)
    t = config.training
    memory = memory_estimate(priced.size, priced.spec, t.batch_size, t.optimizer, dataset["n_rows"], t.momentum)
    early = _early_stopping(config)
    base = dict(parameters=priced.size.parameters, memory=memory, exact=priced.exact, early_stopping=early,
                n_train=priced.n_train,
                steps=training_steps(priced.n_train, t.batch_size * t.total_processes, t.epochs)
                * max(1, config.split.folds))
    calibration = load_calibration(t.device)
    if calibration is None:
        return RunEstimate(**base, device=None,
                           basis="This computer has not been measured yet: measure it once (about half a minute) "
                                 "to see how long runs take.")
    device = calibration["device"]
    key = getattr(config.model, "encoder_key", None)
    # an encoder tuned on pairs, or started from a run that changed it, reads every example each run: its features
    # are the run's own
    changed = bool(key) and _starts_from_a_changed_encoder(config)
    tuned_or_changed = bool(key) and (priced.size.tuning_per_pair > 0 or changed)
    left = 1.0 if tuned_or_changed else left_to_read(features_path(dataset, key)) if key else 0.0
    encodes = left > 0
    histories = {} if histories is None else histories
    if device not in histories:
        histories[device] = _finished_runs(calibration, device)
    history = histories[device]
    # the ratio from runs long enough to tell; the share of their steps early stopping left from any run like it
    alike, level = _alike((f for f in history if f.telling), config, dataset)
    ratios = [f.ratio for f in alike]
    ratio = math.exp(statistics.median(math.log(r) for r in ratios)) if ratios else 1.0
    stopped, stopped_level = _alike((f for f in history if f.share is not None), config, dataset)
    shares = [f.share for f in stopped]
    share = (statistics.median(shares) if shares else EARLY_STOP_SHARE) if early else 1.0
    if early and shares and stopped_level > 0:
        # where early stopping ends is the data's own: runs on other data sets or presets, which stopped at 42 % and
        # 58 % of their steps, left a table that ran every epoch at 2.3 times its estimate. The most likely figure
        # lies between theirs and every epoch.
        share = math.sqrt(share)
    least = min(min(shares, default=share), (t.early_stopping_patience + 1) / t.epochs) if early else 1.0
    if not alike:
        spread = SPREAD_MEASURED_ONLY
    else:
        scatter = max(abs(math.log(r / ratio)) for r in ratios)
        # fewer and less alike runs leave more room; the runs' own scatter sets the least
        spread = min(SPREAD_MOST, max(SPREAD_LEAST * (1 + 0.15 * level) * (1 + 0.25 / len(alike)), math.exp(scatter)))
    reading = 0.0
    if encodes:  # scaled by how its earlier readings (tuned first, or not) compared with their price
        tuned = priced.size.tuning_per_pair > 0
        readings = [f.encoding_ratio for f in history
                    if f.model == config.model.name and f.encoding_ratio and f.tuned == tuned]
        reading = left * priced.encoding(calibration) * (statistics.median(readings[:SIMILAR_RUNS]) if readings
                                                         else 1.0)
    seconds = reading + priced.seconds(calibration, share=share, ratio=ratio)
    low = (reading + priced.seconds(calibration, share=min(share, least), ratio=ratio)) / spread
    high = (reading + priced.seconds(calibration, ratio=ratio)) * spread
    device_words = "GPU" if device == "cuda" else "processor"
    if alike:
        runs = f"{len(alike)} finished run{'s' if len(alike) > 1 else ''} of {LEVELS[level]}"
        basis = f"From a short measurement of this computer's {device_words}, corrected by how long {runs} took."
    else:
        basis = (f"From a short measurement of this computer's {device_words} alone: no run like it has finished "
                 "here yet, so it may be off by half or double. It gets closer as runs finish.")
    if early:
        basis += (" Early stopping may end the run sooner: the range runs from an early stop to every epoch.")
    if encodes and priced.size.tuning_per_pair:
        basis += (f" It includes tuning the pretrained network on {pair_count(priced.n_train):,} pairs of training "
                  "examples, then reading every example once through it.")
    elif changed:
        basis += (f" It includes reading every example once through the pretrained network as run "
                  f"{t.init_from}'s training left it.")
    elif encodes and left < 1:
        basis += (f" It includes reading the rest of the examples through the pretrained network, about {left:.0%} "
                  "of the reading (it reads the newest data sets while no run trains; later runs reuse it).")
    elif encodes:
        basis += " It includes reading every example once through the pretrained network (later runs reuse it)."
    if t.total_processes > 1:
        basis += (f" The {t.total_processes} processes are taken to share the work evenly; the time they spend "
                  "exchanging gradients comes on top.")
    return RunEstimate(**base, device=device, seconds=seconds, low=low, high=high, basis=basis,
                       learned_from=[f.run_id for f in alike])


def _starts_from_a_changed_encoder(config: RunConfig) -> bool:
    """Whether the run starts from the weights of a run that changed its pretrained encoder (tuned it on pairs, or
    trained every layer), itself or through the runs it started from in turn (engine.training.warm_start)."""
    run_id, seen = config.training.init_from, set()
    while run_id is not None and run_id not in seen:
        seen.add(run_id)
        run = repo.get_run(run_id)
        if run is None:
            return False
        earlier = run["config"] or {}
        if (earlier.get("model") or {}).get("train_part") in ("pairs", "all"):
            return True
        run_id = (earlier.get("training") or {}).get("init_from")
    return False


def queue_waits(active: list[dict[str, Any]], positions: dict[int, int], slots: int) -> dict[int, float | None]:
    """Give back {queued run id: seconds until it should start}, from the runs ahead of it and the workers' slots.

    active: the queued and training runs (repo.list_runs). A training run counts for its own time left, a waiting
    one for its estimate; the runs ahead share `slots` places at once. None where a run ahead cannot be estimated.
    """
    left: dict[int, float | None] = {}
    for run in active:
        if run["status"] == RunStatus.RUNNING:
            left[run["id"]] = run["eta_seconds"]
    datasets: dict[int, dict[str, Any] | None] = {}
    histories: dict[str, list[_Finished]] = {}  # read once for all the waiting runs
    waits: dict[int, float | None] = {}
    busy = sorted(v for v in left.values() if v is not None)
    unknown = any(v is None for v in left.values())
    lanes = [0.0] * max(1, slots)
    for seconds in busy:  # the training runs hold the lanes first
        lanes[lanes.index(min(lanes))] += seconds
    for run in sorted((r for r in active if r["status"] == RunStatus.QUEUED), key=lambda r: positions.get(r["id"], 0)):
        waits[run["id"]] = None if unknown else min(lanes)
        if run["dataset_id"] not in datasets:
            datasets[run["dataset_id"]] = repo.get_dataset(run["dataset_id"])
        try:
            seconds = estimate_run(run["config"], datasets[run["dataset_id"]], histories).seconds
        except (UserError, KeyError, TypeError, ValueError):
            seconds = None
        if seconds is None:
            unknown = True
        else:
            lanes[lanes.index(min(lanes))] += seconds
    return waits
