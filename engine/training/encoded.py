"""Training a pretrained model: its encoder's view of every example is computed once per data set version and kept
in the data set's folder; the last layer trains on those features in seconds, or the whole model trains on the data.

`trainable(model, data, ...)` gives back what the training loop should train and on what: the model and its data
as they are, or (for a pretrained model whose encoder stays frozen) the model's head and the cached features.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from engine.data.prepared import SPLITS, PreparedData, features_path, partial_path, save_quietly
from engine.files import atomic_path
from engine.models.pairs import PAIR_LEARNING_RATE, PAIR_MAX_PIECES, PAIRS_PER_STEP, draw_pairs, pair_count

ENCODE_BATCH = 64
PAIR_WORK = 6  # a pair tuned is about six texts read: two texts, each forward and backward (twice a forward)
# Called with (examples done, examples in all, seconds left) while features are computed.
EncodeProgress = Callable[[int, int, float | None], None]


def trains_whole_model(model: nn.Module) -> bool:
    return getattr(model, "trains_encoder", True)


def encoding_progress_share(model: nn.Module) -> float:
    """Give back the share of a run's progress bar that computing the features takes, when they are not cached:
    most of the run when only the last layer trains, a sliver when the whole network trains after it."""
    return 0.1 if trains_whole_model(model) else 0.8


@torch.inference_mode()
def encode(encoder: nn.Module, x: np.ndarray, device: torch.device,
           on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Give back the encoder's float32 features of every example in x, in batches on device."""
    encoder.eval().to(device)
    images = x.ndim == 4
    if images:
        encoder.to(memory_format=torch.channels_last)
    # Texts go shortest first and each batch only as wide as its longest text: padding costs attention time.
    lengths = (x != 0).sum(axis=1) if not images else None
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(x))
    features = None
    for first in range(0, len(x), ENCODE_BATCH):
        rows = order[first:first + ENCODE_BATCH]
        batch = x[first:first + ENCODE_BATCH] if images else x[rows, : max(1, int(lengths[rows].max()))]
        batch = torch.from_numpy(batch).to(device)
        if images:
            batch = batch.contiguous(memory_format=torch.channels_last)
        out = encoder(batch).float().cpu().numpy()
        if features is None:
            features = np.zeros((len(x), out.shape[1]), dtype=np.float32)
        features[rows] = out
        if on_batch:
            on_batch(len(batch))
    return features if features is not None else np.zeros((0, 0), dtype=np.float32)


class Reading:
    """The encoder's features of every example of a data set version, read in small steps that can stop at any
    step and go on later: what was read is kept beside the finished cache (partial_path) until the last step.

    x holds every example in the data set's stored order. Texts are read shortest first, so that a step's texts are
    about as long as each other and little time goes on padding. A text's reading costs about its word pieces (a
    picture's, the same for each), so the share read (`share_read`) counts those: the shortest half of 5,000 food
    reviews holds a quarter of their pieces.
    """

    def __init__(self, encoder: nn.Module, x: np.ndarray, path: Path, device: torch.device,
                 step: int = ENCODE_BATCH):
        self.encoder, self.x, self.path, self.device, self.step_size = encoder, x, path, device, step
        self.features: np.ndarray | None = None
        self.done = np.zeros(len(x), dtype=bool)
        try:
            with np.load(partial_path(path)) as saved:
                if len(saved["done"]) == len(x) and saved["features"].shape[0] == len(x):
                    self.features, self.done = saved["features"].astype(np.float32), saved["done"].astype(bool)
        except (OSError, ValueError, KeyError):
            pass
        self.work = np.maximum(1, (x != 0).sum(axis=1)) if x.ndim == 2 else np.ones(len(x), dtype=np.int64)
        self.order = np.argsort(self.work, kind="stable")

    @property
    def work_read(self) -> int:
        return int(self.work[self.done].sum())

    @property
    def share_read(self) -> float:
        return self.work_read / max(1, int(self.work.sum()))

    def step(self) -> int:
        """Read the next few examples; give back how many (0 once every example is read)."""
        rows = self.order[~self.done[self.order]][: self.step_size]
        if not len(rows):
            return 0
        out = encode(self.encoder, self.x[rows], self.device)
        if self.features is None:
            self.features = np.zeros((len(self.x), out.shape[1]), dtype=np.float32)
        self.features[rows] = out
        self.done[rows] = True
        return len(rows)

    def keep(self) -> None:
        """Keep what was read: the whole cache once every example is read, else the part read so far."""
        if self.features is None or not self.path.parent.parent.exists():  # nothing read, or its data set deleted
            return
        if self.done.all():
            save_quietly(self.path, self.features.astype(np.float16))
            partial_path(self.path).unlink(missing_ok=True)
            return
        try:
            with atomic_path(partial_path(self.path)) as scratch, open(scratch, "wb") as file:
                np.savez(file, features=self.features.astype(np.float16), done=self.done, read=self.share_read)
        except OSError:
            pass  # only slower: the next reading starts from the beginning


def stored_examples(data: PreparedData) -> np.ndarray | None:
    """Give back every example of data's splits in the data set's stored order, or None when its splits do not
    cover every stored example once (then no cache of the whole data set can be kept)."""
    rows = data.rows
    if rows is None:
        return None
    positions = np.concatenate([rows[split] for split in SPLITS])
    if not np.array_equal(np.sort(positions), np.arange(len(positions))):
        return None
    examples = np.concatenate([data.arrays[split][0] for split in SPLITS])
    stored = np.empty_like(examples)
    stored[positions] = examples
    return stored


def read_every(encoder: nn.Module, stored: np.ndarray, device: torch.device, path: Path,
               on_progress: EncodeProgress | None = None) -> np.ndarray:
    """Give back the encoder's features of every stored example (stored_examples), going on from a reading that
    stopped part way; a stop in on_progress (an exception) keeps what was read for the next reading. on_progress
    counts the examples' work (Reading), first where the reading stands, then after each step."""
    reading = Reading(encoder, stored, path, device)
    total, start, already = int(reading.work.sum()), time.perf_counter(), reading.work_read
    if on_progress:
        on_progress(already, total, None)  # where an earlier reading stopped: the run reads the rest
    try:
        while reading.step():
            if on_progress:
                done = reading.work_read
                elapsed = time.perf_counter() - start
                on_progress(done, total, elapsed / (done - already) * (total - done))
    except BaseException:
        reading.keep()
        raise
    reading.keep()
    return reading.features if reading.features is not None else np.zeros((0, 0), dtype=np.float32)


def cached_features(model: nn.Module, data: PreparedData, device: torch.device, path: Path | None,
                    on_progress: EncodeProgress | None = None) -> dict[str, np.ndarray]:
    """Give back the encoder's features of each split, from the data set's cache or computed (and then kept).

    The cache holds every example of the data set version in its stored order, so a run with another split
    reuses it; a reading stopped part way (a cancelled run, or the worker reading ahead, engine.jobs.read_ahead)
    goes on where it stopped. Features are kept as float16, half the disk and no measurable loss for a linear last
    layer.
    """
    rows = data.rows
    path = path if rows is not None else None
    if path is not None and path.exists():
        try:
            every = np.load(path, mmap_mode="r")
            if len(every) > max(int(rows[split].max(initial=-1)) for split in SPLITS):
                return {split: np.asarray(every[rows[split]], dtype=np.float32) for split in SPLITS}
        except (OSError, ValueError):
            pass
    stored = stored_examples(data) if path is not None else None
    if stored is not None:  # the cache is kept only when the splits cover every example
        every = read_every(model.encoder, stored, device, path, on_progress)
        return {split: every[rows[split]] for split in SPLITS}
    total, done, start = sum(len(data.arrays[split][0]) for split in SPLITS), 0, time.perf_counter()

    def counted(count: int) -> None:
        nonlocal done
        done += count
        if on_progress:
            elapsed = time.perf_counter() - start
            on_progress(done, total, elapsed / done * (total - done) if done else None)

    return {split: encode(model.encoder, data.arrays[split][0], device, counted) for split in SPLITS}


def tune_on_pairs(encoder, x: np.ndarray, labels: np.ndarray, device, seed: int,
                  on_step: Callable[[int, int, float], None] | None = None) -> int:
    """Tune encoder (examples → vectors of length 1) in place so that the cosine of each pair's vectors comes
    near 1 for the same label and 0 for different ones; give back the number of pairs it learnt from.

    x holds word piece ids, 0 after each text's end; on_step(pairs done, pairs in all, the step's loss) after each
    step.
    """
    first, second, same = draw_pairs(labels, seed)
    if not len(first):
        return 0
    x = x[:, :PAIR_MAX_PIECES]
    torch.manual_seed(seed)  # dropout's draws; the training loop seeds again before the last layer learns
    encoder.to(device).train()
    encoder.requires_grad_(True)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=PAIR_LEARNING_RATE)
    try:
        for start in range(0, len(first), PAIRS_PER_STEP):
            batch = slice(start, start + PAIRS_PER_STEP)
            u = encoder(torch.from_numpy(x[first[batch]]).to(device))
            v = encoder(torch.from_numpy(x[second[batch]]).to(device))
            loss = torch.nn.functional.mse_loss((u * v).sum(dim=1), torch.from_numpy(same[batch]).to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if on_step:
                on_step(min(start + PAIRS_PER_STEP, len(first)), len(first), float(loss.detach()))
    finally:
        encoder.requires_grad_(False)
        encoder.eval()
    return len(first)


def tuned_on_pairs(model: nn.Module, data: PreparedData, device: torch.device, seed: int,
                   on_progress: EncodeProgress | None = None,
                   on_loss: Callable[[int, float], None] | None = None) -> EncodeProgress:
    """Tune model's encoder on pairs of the training examples (tune_on_pairs); give back the progress
    reporter for reading every example after it, so that one bar covers both (a pair counts as PAIR_WORK reads).
    on_loss(step, loss) after each step of the tuning, from 1.

    A run resumed after a stop tunes again, on the same pairs from the same seed, before its checkpoint is read."""
    x, y = data.arrays["train"]
    reading, start = sum(len(data.arrays[split][0]) for split in SPLITS), time.perf_counter()
    total = PAIR_WORK * pair_count(len(y)) + reading

    def report(done: int) -> None:
        if on_progress:
            elapsed = time.perf_counter() - start
            on_progress(done, total, elapsed / done * (total - done) if done else None)

    def step(pairs: int, _total: int, loss: float) -> None:
        report(PAIR_WORK * pairs)
        if on_loss:
            on_loss(-(-pairs // PAIRS_PER_STEP), loss)

    tuned = PAIR_WORK * tune_on_pairs(model.encoder, x, y, device, seed, step)
    total = tuned + reading  # fewer pairs than the most when a label has a single example, or there is one label
    return lambda done, _total, _left: report(tuned + done)


def trainable(model: nn.Module, data: PreparedData, device: torch.device, dataset: dict[str, Any] | None = None,
              on_progress: EncodeProgress | None = None, seed: int = 0,
              on_tuning_loss: Callable[[int, float], None] | None = None) -> tuple[nn.Module, PreparedData]:
    """Give back (the module to train, the data to train it on) for model on data; see the module's docstring.

    A pretrained model's features of the training examples also set its head's standardisation, whether the encoder
    then trains or not. With the stored dataset, the features are kept in its folder for later runs, except those
    of an encoder tuned on pairs of this run's training examples (seed draws the pairs) or taken from an earlier
    run that changed it: they are the run's own.
    """
    if not hasattr(model, "encoder_key"):
        return model, data
    shared = dataset is not None and not getattr(model, "encoder_changed", False)
    path = features_path(dataset, model.encoder_key) if shared else None
    if getattr(model, "tunes_on_pairs", False):
        on_progress, path = tuned_on_pairs(model, data, device, seed, on_progress, on_tuning_loss), None
    features = cached_features(model, data, device, path, on_progress)
    model.fit_head(torch.from_numpy(features["train"]))
    if trains_whole_model(model):
        return model, data
    arrays = {}
    for split in SPLITS:
        x, y = data.arrays[split]
        arrays[split] = (model.head_input(torch.from_numpy(features[split]), torch.from_numpy(x)).numpy(), y)
    return model.head, PreparedData(arrays=arrays, preprocessing={**data.preprocessing, "kind": "features"})
