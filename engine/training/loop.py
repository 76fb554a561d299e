"""The training loop: one function to read top to bottom, and the pieces it is set up from."""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from engine.config import RunConfig, TrainingConfig
from engine.data.prepared import PreparedData
from engine.errors import TrainingError
from engine.training.callbacks import Callback, EarlyStopping, StopTraining, TrainState, improves
from engine.training.checkpoint import capture_rng, restore_rng
from engine.training.device import autocast_dtype, data_device, memory_mb, set_up_device
from engine.training.parallel import SINGLE, Team
from engine.training.schedule import schedule_share
from engine.training.evaluate import combined, evaluate, task_loss

NAN_ADVICE = ("The training loss became {value} at step {step}, so the model stopped learning. "
              "Lower the learning rate (try {lr:.2g}) or turn on gradient clipping, then run it again.")
MIN_EVAL_BATCH = 1024  # evaluation keeps no gradients, so it can take bigger batches than training
AGREE_EVERY = 5  # with several processes: steps between two checks that none of them must stop (cancel, interrupt)

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda params, t, **fast: torch.optim.SGD(params, lr=t.learning_rate, momentum=t.momentum,
                                                     nesterov=t.nesterov, weight_decay=t.weight_decay, **fast),
    "adam": lambda params, t, **fast: torch.optim.Adam(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                                                       **fast),
    "adamw": lambda params, t, **fast: torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                                                         **fast),
    "rmsprop": lambda params, t, **fast: torch.optim.RMSprop(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                                                             **fast),
    "adagrad": lambda params, t, **fast: torch.optim.Adagrad(params, lr=t.learning_rate,
                                                             weight_decay=t.weight_decay, **fast),
}
# One fused kernel per step instead of a loop over the weights: the word-vector table of a bag-of-embeddings
# model (1.3 million numbers) steps in 1.9 ms instead of 21 ms with Adam on one CPU core.
FUSED_DEVICES = {"sgd": ("cpu", "cuda"), "adam": ("cpu", "cuda"), "adamw": ("cpu", "cuda"), "adagrad": ("cpu",)}


# The validation figure behind "Validation accuracy, or error for numbers", and whether higher is better.
TASK_SCORES = {"classification": ("val_accuracy", "max"), "regression": ("val_rmse", "min"),
               "rating": ("val_rmse", "min")}
# Plain names of the validation figures a run can watch (early stopping, keeping the best epoch).
WATCHED_WORDS = {"val_loss": "validation loss", "val_accuracy": "validation accuracy",
                 "val_rmse": "validation error (RMSE)"}


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every GPU
    np.random.seed(seed % 2**32)


def make_optimizer(model: nn.Module, t: TrainingConfig) -> torch.optim.Optimizer:
    """Give back the chosen optimiser over model's weights, fused where the model's device has the kernel.

    A model with `parameter_groups(learning_rate)` (a pretrained one) gives each group its own learning rate.
    """
    groups = model.parameter_groups(t.learning_rate) if hasattr(model, "parameter_groups") else None
    params = [p for group in groups for p in group["params"]] if groups else list(model.parameters())
    devices = {p.device.type for p in params}
    fused = len(devices) == 1 and devices <= set(FUSED_DEVICES.get(t.optimizer, ()))
    fast = {"fused": True} if fused else {"foreach": True} if devices <= {"cpu", "cuda"} else {}
    return OPTIMIZERS[t.optimizer](groups or params, t, **fast)


def make_scheduler(optimizer: torch.optim.Optimizer, t: TrainingConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Give back a scheduler stepped after every optimiser step, by the rule in engine.training.schedule."""
    settings = t.model_dump()
    total_steps = t.epochs * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_share(step, total_steps, steps_per_epoch, settings))


def random_flip(images: torch.Tensor) -> torch.Tensor:
    """Give back images with a random half mirrored left to right."""
    flip = torch.rand(len(images), 1, 1, 1, device=images.device) < 0.5
    return torch.where(flip, images.flip(3), images)


def random_shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Give back images each moved by up to pixels in each direction; the gap is zero, the average colour."""
    n, _, height, width = images.shape
    padded = F.pad(images, (pixels,) * 4)
    top = torch.randint(0, 2 * pixels + 1, (n, 1), device=images.device)
    left = torch.randint(0, 2 * pixels + 1, (n, 1), device=images.device)
    rows = (top + torch.arange(height, device=images.device))[:, :, None]  # (n, height, 1)
    cols = (left + torch.arange(width, device=images.device))[:, None, :]  # (n, 1, width)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # indexing gives (n, height, width, channels)


def batch_transform(kind: str, t: TrainingConfig, channels_last: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """Give back what is done to every training batch on the device: image augmentation and memory layout."""
    steps: list[Callable[[torch.Tensor], torch.Tensor]] = []
    if kind == "image" and t.augment_flip:
        steps.append(random_flip)
    if kind == "image" and t.augment_crop:
        steps.append(functools.partial(random_shift, pixels=t.augment_crop))
    if channels_last:
        steps.append(lambda images: images.contiguous(memory_format=torch.channels_last))

    def transform(batch: torch.Tensor) -> torch.Tensor:
        for step in steps:
            batch = step(batch)
        return batch

    return transform


def watched(t: TrainingConfig, task: str) -> tuple[str, str]:
    """Give back the validation figure early stopping and keep-best watch, and whether 'min' or 'max' is best."""
    return ("val_loss", "min") if t.early_stopping_metric == "val_loss" else TASK_SCORES[task]


def training_callbacks(t: TrainingConfig, task: str) -> list[Callback]:
    """Give back the callbacks the run's own settings ask for (early stopping)."""
    if not t.early_stopping_patience:
        return []
    return [EarlyStopping(*watched(t, task), t.early_stopping_patience)]


def weight_average(model: nn.Module, t: TrainingConfig, steps_per_epoch: int) -> AveragedModel | None:
    """Give back a copy of model whose weights (and batch normalisation figures) follow an exponential moving
    average of model's over about t.average_epochs epochs of steps, or None when the run does not average.

    The copy is what validation judges, the best epoch keeps and the run ends with. Balanced tables, 3 seeds, 2
    threads, against the latest weights (gradient boosting in brackets): over about 2 epochs credit_scoring 0.8042 →
    0.8082 (0.8047), hpc_jobs 0.8431 → 0.8431 (0.8441); about 3: 0.8047, 0.8456; about 5: 0.8032, 0.8446. Two runs
    of one setting differ by as much as these settings do; bench/model_quality.py with 2: 0.8087 and 0.8431.
    """
    if not t.average_epochs:
        return None  # nor with the model split between processes (FSDP): RunConfig refuses that
    decay = 1.0 - 1.0 / max(1.0, t.average_epochs * steps_per_epoch)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(config: RunConfig, data: PreparedData, model: nn.Module, device: torch.device,
          callbacks: list[Callback], resume: dict[str, Any] | None = None,
          team: Team = SINGLE) -> tuple[TrainState, dict[str, float]]:
    """Train model on data; give back the final state and the final metrics (test scores included).

    With a team of several processes (engine.training.parallel), each takes its share of every step's examples
    and the gradients are averaged over them, so a step sees processes × batch size examples; callbacks that
    write (metrics, progress, checkpoints) belong to rank 0 alone.
    """
    # --- set up: data as tensors on the device, batches as slices of them
    t = config.training
    if team.shared:
        t = t.model_copy(update={"learning_rate": t.learning_rate * t.learning_rate_factor(team.world)})
    kind, task = data.preprocessing["kind"], data.preprocessing["task"]
    target_std = data.preprocessing.get("target_std", 1.0)
    seed_everything(t.seed + team.rank)  # the same shuffle everywhere (below), its own dropout and augmentation
    set_up_device(device)
    store = data_device(device, sum(a.nbytes for split in data.arrays.values() for a in split))
    # cuDNN on GPUs and oneDNN on CPUs run convolutions fastest on channels-last images (1.4× for the Seed CNN
    # on a 2-core CPU).
    channels_last = device.type in ("cuda", "cpu") and data.arrays["train"][0].ndim == 4
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = data.arrays[split]
        return torch.from_numpy(x).to(store).contiguous(memory_format=layout), torch.from_numpy(y).to(store)

    x_train, y_train = tensors("train")
    x_val, y_val = tensors("validation")
    n = len(x_train)
    if n < team.world:
        raise TrainingError(f"The training split has {n} examples, fewer than the run's {team.world} processes. "
                            "Use fewer processes.")
    # Each step takes the next rows of the epoch's shuffle (the same in every process) and splits them evenly.
    usable = n - n % team.world
    step_rows = min(t.batch_size * team.world, usable)
    # A lone last example per process would break batch normalisation; it waits for another epoch's shuffle.
    if usable % step_rows == team.world and usable > team.world:
        usable -= team.world
    steps_per_epoch = math.ceil(usable / step_rows)
    batch_size = step_rows // team.world
    starting = getattr(model, "start_training", None)  # a model that also reads its training inputs as a whole,
    if starting is not None:  # such as the items each user rated (matrix factorisation); before its weights load
        starting(data.arrays["train"][0])
    model.to("cpu" if team.sharded else device, memory_format=layout)  # FSDP moves each process's share itself
    if resume:
        model.load_state_dict(resume["model"])
    net = team.wrap(model, device)  # what the steps call: model itself, or shared between the processes
    forward = torch.compile(net) if t.compile else net
    inner = team.inner(model, net)  # the model's own methods, on the weights the steps update
    judge = inner if team.shared else forward  # computes the validation and test figures
    penalty = getattr(inner, "penalty", None)
    transform = batch_transform(kind, t, channels_last)
    optimizer = make_optimizer(inner, t)
    scheduler = make_scheduler(optimizer, t, steps_per_epoch)
    half = autocast_dtype(t.mixed_precision, device)
    autocast = functools.partial(torch.autocast, device.type, dtype=half) if half else contextlib.nullcontext
    scaler = torch.amp.GradScaler(device.type, enabled=half == torch.float16)  # bf16 needs no loss scaling
    averaged = weight_average(inner, t, steps_per_epoch)
    callbacks = [*callbacks, *training_callbacks(t, task)]
    shuffle = torch.Generator().manual_seed(t.seed)
    state = TrainState(epochs=t.epochs, steps_per_epoch=steps_per_epoch)
    if resume:
        fast = {key: optimizer.defaults[key] for key in ("fused", "foreach") if key in optimizer.defaults}
        team.load_optimizer(net, optimizer, resume["optimizer"])
        for group in optimizer.param_groups:  # this machine's kernels, not those of the one that saved it
            group.update(fast)
        scheduler.load_state_dict(resume["scheduler"])
        scaler.load_state_dict(resume["scaler"])
        ranks_rng = resume.get("rng_ranks") or []
        restore_rng(ranks_rng[team.rank] if len(ranks_rng) == team.world else resume["rng"], shuffle)
        for key, value in resume["state"].items():
            setattr(state, key, value)
        if averaged is not None and resume.get("averaged"):
            averaged.load_state_dict(resume["averaged"])
    eval_batch = max(MIN_EVAL_BATCH, batch_size)
    # The best epoch so far by the watched figure, with a copy of its weights on the CPU: {value, epoch, model}.
    monitor, mode = watched(t, task)
    best = resume.get("best") if resume else None

    pending_stop: str | None = None  # with several processes, a reason to stop waits until they all agree

    def hook(name: str, *args) -> None:
        nonlocal pending_stop
        try:
            for callback in callbacks:
                getattr(callback, name)(state, *args)
        except StopTraining as stopping:
            if not team.shared:
                raise
            pending_stop = pending_stop or stopping.reason

    def agree_to_stop() -> None:
        reason = team.stop_reason(pending_stop, device)
        if reason:
            raise StopTraining(reason)

    def check_finite(value: float) -> None:
        if not math.isfinite(value):
            raise TrainingError(NAN_ADVICE.format(value=value, step=state.step, lr=t.learning_rate / 10))

    hook("on_train_start")
    try:
        while state.epoch < t.epochs and not state.stop:
            model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(n, generator=shuffle).to(store)
            window_loss = torch.zeros((), device=device)
            window_correct = torch.zeros((), device=device, dtype=torch.long)
            window_count = 0
            for first in range(0, usable, step_rows):
                # --- forward, loss, backward, clip, step, schedule
                rows = order[first:first + step_rows]
                share = len(rows) // team.world
                mine = rows[team.rank * share:(team.rank + 1) * share]
                xb = transform(x_train[mine].to(device, non_blocking=True))
                yb = y_train[mine].to(device, non_blocking=True)
                with autocast():
                    outputs = forward(xb)
                    loss = task_loss(task, outputs, yb, t.label_smoothing)
                    if penalty is not None:  # a model's own regularisation, e.g. matrix factorisation's
                        loss = loss + penalty(xb)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if t.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(net.parameters(), t.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                if averaged is not None:
                    averaged.update_parameters(inner)
                state.step += 1
                state.samples_seen += len(rows)
                window_loss.add_(loss.detach(), alpha=len(mine))  # stays on the device: no sync per step
                window_count += len(mine)
                if task == "classification":
                    window_correct += (combined(outputs.detach()).argmax(-1) == yb).sum()
                logs = None
                # the run's very first step too, so that its curve starts at once: the first batch's loss
                logging = state.step % t.log_every == 0 or first + step_rows >= usable or state.step == 1
                if team.shared and (logging or state.step % AGREE_EVERY == 0):
                    agree_to_stop()
                if logging:
                    # One device sync per log window, not per step; the processes add up their windows.
                    loss_sum, correct, count = team.sums([window_loss, window_correct, window_count], device)
                    logs = {"train_loss": loss_sum / count, "learning_rate": scheduler.get_last_lr()[0]}
                    check_finite(logs["train_loss"])
                    if task == "classification":
                        logs["train_accuracy"] = correct / count
                    window_loss.zero_()
                    window_correct.zero_()
                    window_count = 0
                hook("on_step_end", logs)
            _sync(device)
            epoch_seconds = time.perf_counter() - epoch_start
            state.train_seconds += epoch_seconds
            state.epoch += 1
            # --- evaluate
            with autocast():
                logs = evaluate(averaged.module if averaged else judge, x_val, y_val, task, "val", target_std,
                                eval_batch, device)
            logs = team.from_leader(logs)  # every process acts on the same figures (early stopping, best epoch)
            check_finite(logs["val_loss"])
            logs.update({
                "epoch_seconds": epoch_seconds,
                "samples_per_second": usable / epoch_seconds if epoch_seconds > 0 else 0.0,
                "memory_mb": memory_mb(device),
            })
            hook("on_epoch_end", logs)
            if team.shared:
                agree_to_stop()
            if t.keep_best and improves(logs.get(monitor), best["value"] if best else None, mode):
                weights = averaged.module.state_dict() if averaged else team.weights(net, model)  # rank 0 keeps it
                best = {"value": logs[monitor], "epoch": state.epoch,
                        "model": {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}
                        if team.leader else {}}
            # --- checkpoint
            weights, optimizer_state = team.weights(net, model), team.optimizer_state(net, optimizer)
            rng = team.gather(capture_rng(shuffle))
            if team.leader:
                hook("on_checkpoint", {
                    "model": weights,
                    "optimizer": optimizer_state,
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": rng[0],
                    "rng_ranks": rng if team.shared else None,
                    "best": best,
                    "averaged": averaged.state_dict() if averaged else None,
                    "state": {"epoch": state.epoch, "step": state.step, "samples_seen": state.samples_seen,
                              "train_seconds": state.train_seconds, "best_metric": state.best_metric,
                              "extra": dict(state.extra)},
                })
    except BaseException as error:
        hook("on_exception", error)
        raise

    if best is not None and best["epoch"] != state.epoch:
        team.load_weights(net, model, best["model"])
        state.extra["kept_epoch"] = {"epoch": best["epoch"], "metric": monitor, "value": best["value"]}
    elif averaged is not None:  # the last epoch's average, which is also what a best last epoch kept
        inner.load_state_dict(averaged.module.state_dict())
    team.unwrap(net, model)
    ending = getattr(model, "end_training", None)  # …and folds what it learnt from them into its kept weights
    if ending is not None:
        ending()
    weigh = getattr(model, "weigh_readers", None)  # an ensemble whose networks read the numbers in two ways
    if weigh is not None:
        with autocast(), torch.no_grad():
            share = weigh(lambda: evaluate(model, x_val, y_val, task, "val", target_std, eval_batch,
                                           device)["val_loss"])
        if share is not None:
            state.extra["range_share"] = share
    x_test, y_test = tensors("test")
    with autocast():
        final = team.from_leader(evaluate(judge, x_test, y_test, task, "test", target_std, eval_batch, device))
    final["epochs_completed"] = float(state.epoch)
    if "kept_epoch" in state.extra:
        final["kept_epoch"] = float(state.extra["kept_epoch"]["epoch"])
    final["samples_per_second"] = state.samples_seen / state.train_seconds if state.train_seconds else 0.0
    hook("on_train_end", final)
    return state, final
