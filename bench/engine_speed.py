"""Training speed of the Seed CNN: Trainyard's engine, a plain PyTorch loop, and the brief's Keras code.

All of them train the same network on the same CIFAR-shaped random data (N × 3 × 32 × 32, 10 classes) with Adam
at batch size 64, on the same device and threads, each in a process of its own (as a run has its own process).
The engine runs as a run does: metrics go to a real SQLite database, progress is reported, a checkpoint is
written each epoch. Keras 3 runs on its torch backend (KERAS_BACKEND=torch), so every contender calls the same
convolution kernels. A fourth line, the plain loop given everything the engine sets up (channels-last images,
a fused optimiser step, freed memory kept for reuse), shows what the engine's own loop costs.

    .venv/bin/python bench/engine_speed.py              # 10,000 examples, 3 rounds of 1 epoch: about 3 minutes on 2 CPU cores
    .venv/bin/python bench/engine_speed.py --full       # 50,000 examples, 3 rounds of 3 epochs
    .venv/bin/pip install -r requirements-bench.txt     # Keras, for the Keras line

Each contender first trains briefly on a slice (warm-up); then the contenders take turns, round after round (the
others wait, idle), and each one's best round counts. Samples per second count training steps only (no evaluation).
The last line reads `engine_vs_plain=<ratio> engine_vs_keras=<ratio>`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from engine.config import RunConfig  # noqa: E402
from engine.models.registry import build_model  # noqa: E402

SPEC = {"kind": "image", "task": "classification", "channels": 3, "height": 32, "width": 32, "n_outputs": 10}
WARMUP_EXAMPLES = 1024


def cifar_shaped(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_contender(x, y, args, device: torch.device):
    """Give back run(n, epochs) -> samples/s: Trainyard's loop with the callbacks a real run has."""
    home = tempfile.mkdtemp(prefix="trainyard-bench-")
    os.environ["TRAINYARD_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    from db import repo
    from db.session import migrate
    from engine.training.callbacks import Checkpointer, MetricLogger, ProgressReporter, StopCheck
    from engine.training.checkpoint import save_checkpoint
    from engine.training.loop import train

    migrate()
    dataset = repo.create_dataset(name="cifar-shaped", kind="image", task="classification", target="label",
                                  n_rows=len(x), n_columns=1, schema={}, quality_report={}, files_path=home,
                                  sha256="0" * 64)
    config = RunConfig.model_validate({
        "model": {"name": "seed_cnn"},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": 1e-3,
                     "optimizer": "adam", "device": str(device), "mixed_precision": args.mixed_precision},
    })
    held_out = (x[:1000], y[:1000])  # small: evaluation is not timed, only waited for

    def run(n: int, epochs: int) -> float:
        run_id = repo.create_run(dataset["id"], "seed_cnn", config.model_dump())["id"]
        callbacks = [
            MetricLogger(lambda points: repo.log_metrics(run_id, points)),
            ProgressReporter(lambda progress, eta: repo.update_progress(run_id, progress, eta)),
            StopCheck(lambda: None),
            Checkpointer(lambda checkpoint: save_checkpoint(Path(home) / f"{run_id}.pt", checkpoint)),
        ]
        data = SimpleNamespace(arrays={"train": (x[:n], y[:n]), "validation": held_out, "test": held_out},
                               preprocessing={"kind": "image", "task": "classification"}, spec=SPEC)
        run_config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": epochs})})
        model = build_model(config.model, SPEC, seed=0)
        _, final = train(run_config, data, model, device, callbacks)
        return final["samples_per_second"]

    return run


def plain_contender(x, y, args, device: torch.device, like_engine: bool = False):
    """Give back run(n, epochs) -> samples/s: the shortest honest hand-written loop over the same tensors.

    like_engine sets up what the engine does (channels-last layout, fused Adam, freed memory kept for reuse),
    so that the two differ only in the loop around the same kernels.
    """
    from engine.training.device import keep_freed_memory

    config = RunConfig.model_validate({"model": {"name": "seed_cnn"}}).model
    layout = torch.channels_last if like_engine else torch.contiguous_format
    if like_engine:
        keep_freed_memory()
    xs, ys = torch.from_numpy(x).to(device).contiguous(memory_format=layout), torch.from_numpy(y).to(device)

    def run(n: int, epochs: int) -> float:
        model = build_model(config, SPEC, seed=0).to(device, memory_format=layout)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=like_engine or None)
        sync(device)
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(n, device=device)
            for first in range(0, n, args.batch_size):
                rows = order[first:first + args.batch_size]
                loss = F.cross_entropy(model(xs[rows].contiguous(memory_format=layout)), ys[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        sync(device)
        return n * epochs / (time.perf_counter() - start)

    return run


def keras_contender(x, y, args):
    """Give back run(n, epochs) -> samples/s: the brief's Keras model (section 5.2), Keras 3 on torch."""
    import keras
    from keras import layers

    images = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # Keras wants channels last, as CIFAR arrives

    def run(n: int, epochs: int) -> float:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
        # The brief passes from_logits=True with a softmax output, a mistake; it does not change the speed.
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                      metrics=["accuracy"])
        timer = EpochTimer()
        model.fit(images[:n], y[:n], batch_size=args.batch_size, epochs=epochs, verbose=0, callbacks=[timer])
        return n * epochs / timer.seconds

    class EpochTimer(keras.callbacks.Callback):
        """Times the epochs only, as the engine counts its training steps only (not building or compiling)."""

        seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds += time.perf_counter() - self.start

    return run


LABELS = {"engine": "Trainyard engine (SQLite metrics, progress, checkpoints)", "plain": "plain PyTorch loop",
          "plain_like_engine": "plain loop set up like the engine",
          "keras": "brief's Keras code (Keras {version}, torch backend)"}


def contender(name: str, args, connection) -> None:
    """In a process of its own: build contender name, warm it up, then time a round on every 'go'."""
    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.training.device import pick_device

    device = pick_device(args.device)
    x, y = cifar_shaped(args.samples)
    if name == "engine":
        run = engine_contender(x, y, args, device)
    elif name == "keras":
        run = keras_contender(x, y, args)
    else:
        run = plain_contender(x, y, args, device, like_engine=name == "plain_like_engine")
    run(WARMUP_EXAMPLES, 1)
    connection.send("ready")
    while connection.recv() == "go":
        connection.send(run(len(x), args.epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="training examples (default 10,000)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per contender, taking turns (default 3)")
    parser.add_argument("--full", action="store_true", help="50,000 examples, 3 epochs, 3 rounds, like CIFAR-10")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--mixed-precision", default="off", choices=["auto", "off", "bf16", "fp16"],
                        help="the engine's setting; off by default so every contender computes in float32")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for every contender (default: torch's)")
    args = parser.parse_args()
    if args.full:
        args.samples, args.epochs, args.rounds = 50_000, 3, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.training.device import describe_device, pick_device

    device = pick_device(args.device)
    print(f"Seed CNN, {args.samples:,} random CIFAR-shaped examples, {args.epochs} timed epoch(s), batch "
          f"{args.batch_size}, on {describe_device(device)} with {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}", flush=True)

    names = ["engine", "plain", "plain_like_engine"]
    try:
        import keras
    except ImportError as error:
        keras = None
        print(f"The brief's Keras code is not measured: Keras is not installed ({error}). "
              "`.venv/bin/pip install -r requirements-bench.txt` adds it.", flush=True)
    else:
        names.append("keras")
    # One process per contender, started one after the other (warm-ups do not overlap) and kept for the rounds.
    spawn = multiprocessing.get_context("spawn")
    connections = {}
    processes = []
    for name in names:
        mine, theirs = spawn.Pipe()
        process = spawn.Process(target=contender, args=(name, args, theirs), daemon=True)
        process.start()
        processes.append(process)
        if mine.recv() != "ready":
            raise SystemExit(f"The {name} contender did not start.")
        connections[name] = mine
    # Rounds take turns so that a busy moment on a shared machine hurts every contender alike; the best round
    # of each is the one least disturbed.
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, connection in connections.items():
            connection.send("go")
            rounds[name].append(connection.recv())
    for connection in connections.values():
        connection.send("stop")
    for process in processes:
        process.join(timeout=60)
    figures = {name: max(values) for name, values in rounds.items()}

    def ratio(other: str) -> str:
        return f"{figures['engine'] / figures[other]:.2f}" if other in figures else "n/a"

    for name, values in rounds.items():
        each = ", ".join(f"{v:,.0f}" for v in values)
        label = LABELS[name].format(version=getattr(keras, "__version__", ""))
        print(f"  {label:<58} {figures[name]:7,.0f} samples/s  (rounds: {each})", flush=True)
    print(f"  the engine's own loop against the plain loop set up like it: {ratio('plain_like_engine')}×",
          flush=True)

    print(f"engine_vs_plain={ratio('plain')} engine_vs_keras={ratio('keras')}")


if __name__ == "__main__":
    main()
