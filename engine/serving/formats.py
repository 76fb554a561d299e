"""Writing a trained model in each export format, checked against it: ONNX and a PyTorch program (torch.export's
.pt2), TorchScript only when asked for by name; and the example inputs and the comparison every check uses. Each
file is written to a scratch path, checked as loaded back, and only then put in place.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.errors import UserError
from engine.files import atomic_path
from engine.serving.predict import TorchModel, TrainedModel
from engine.serving.quantize import tidy_file
from engine.serving.runtime import OnnxModel

TOLERANCE = 1e-4  # largest difference allowed between an export's outputs and PyTorch's, per unit of output above 1
CHECK_BATCHES = (1, 7)  # batch sizes other than the one exported with: the batch dimension must stay free


# ---------------------------------------------------------------- example inputs


def _table_examples(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, spec["n_features"])).astype(np.float32)


def _image_examples(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, spec["channels"], spec["height"], spec["width"])).astype(np.float32)


def _text_examples(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    length = spec["max_length"]
    tokens = rng.integers(1, spec["vocab_size"], size=(n, length))
    words = rng.integers(1, length + 1, size=n)
    tokens[np.arange(length) >= words[:, None]] = 0  # padding after each text, as the data side encodes it
    return tokens.astype(np.int64)


def _rating_examples(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    users = rng.integers(0, spec["n_users"] + 1, size=n)
    items = rng.integers(0, spec["n_items"] + 1, size=n)
    return np.stack([users, items], axis=1).astype(np.int64)


EXAMPLES: dict[str, Callable[[dict[str, Any], int, np.random.Generator], np.ndarray]] = {
    "tabular": _table_examples, "image": _image_examples, "text": _text_examples, "ratings": _rating_examples}


def example_inputs(spec: dict[str, Any], n: int, seed: int = 0) -> np.ndarray:
    """Give back n model inputs shaped and typed as the data contract says for spec's kind."""
    return EXAMPLES[spec["kind"]](spec, n, np.random.default_rng(seed))


def compare(exported: Callable[[np.ndarray], np.ndarray], trained: TrainedModel) -> dict[str, Any]:
    """Give back how far the exported model's outputs are from PyTorch's on batches of several sizes.

    Raises UserError when they differ by more than TOLERANCE.
    """
    reference = TorchModel(trained.model)
    worst, largest, checked = 0.0, 0.0, 0
    for seed, size in enumerate(CHECK_BATCHES, start=1):
        x = example_inputs(trained.spec, size, seed)
        expected = reference(x)
        worst = max(worst, float(np.abs(exported(x) - expected).max()))
        largest = max(largest, float(np.abs(expected).max()))
        checked += size
    # Relative to the outputs' size once they exceed 1: a deep network's sums come out in another order in
    # another runtime, which moves its largest answers by a few millionths of their size.
    tolerance = TOLERANCE * max(1.0, largest)
    if not worst <= tolerance:
        raise UserError(f"The exported model's answers differ from the trained model's by {worst:.2g} "
                        f"(at most {tolerance:.2g} is allowed), so it was not kept.")
    return {"max_abs_difference": worst, "tolerance": tolerance, "examples_checked": checked}


# ---------------------------------------------------------------- formats


@contextlib.contextmanager
def _quiet():
    """Keep the exporters' progress lines and warnings out of the command's own output."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _write_checked(path: Path, what: str, write: Callable[[Path], None],
                   load: Callable[[Path], Callable[[np.ndarray], np.ndarray]], trained: TrainedModel) -> dict[str, Any]:
    """Write an export to a scratch file, check what load makes of it against the trained model, and only then put
    it at path; give back the check. Nothing is left behind when either step fails (UserError naming `what`)."""
    try:
        with atomic_path(path) as partial:
            with _quiet():
                write(partial)
            return compare(load(partial), trained)
    except UserError:
        raise
    except Exception as error:
        raise UserError(f"This model could not be exported as {what} ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:300] if str(error) else ''}).") from None


def _batch_free(trained: TrainedModel) -> tuple[torch.Tensor, tuple[dict[int, Any]]]:
    """Give back an example batch and the dynamic shapes that keep the batch size free in an export."""
    x = torch.from_numpy(example_inputs(trained.spec, 4))  # not 1: an example of 1 would fix the batch size
    return x, ({0: torch.export.Dim("batch")},)


def export_onnx(trained: TrainedModel, path: Path) -> dict[str, Any]:
    """Write the model as ONNX (batch size free) to path and give back its check against PyTorch."""
    x, shapes = _batch_free(trained)

    def write(partial: Path) -> None:
        # a model may have a form of the same answers that ONNX Runtime reads better (engine.models.tabular.MLP)
        model = trained.model.onnx_form() if hasattr(trained.model, "onnx_form") else trained.model
        torch.onnx.export(model, (x,), str(partial), dynamo=True, external_data=False,
                          input_names=["input"], output_names=["output"], dynamic_shapes=shapes)
        tidy_file(partial)

    return _write_checked(path, "ONNX", write, lambda partial: OnnxModel(partial, threads=1), trained)


class ProgramModel:
    """A saved torch.export program as a function from a numpy batch to its float32 outputs."""

    def __init__(self, path: Path):
        self.module = torch.export.load(str(path)).module()  # exported in evaluation mode, so it stays in it

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.module(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()


def export_program(trained: TrainedModel, path: Path) -> dict[str, Any]:
    """Write the model as a torch.export program (.pt2, batch size free) to path and give back its check against
    the trained model, made on the program as loaded back from the file."""
    x, shapes = _batch_free(trained)

    def write(partial: Path) -> None:
        torch.export.save(torch.export.export(trained.model, (x,), dynamic_shapes=shapes), str(partial))

    return _write_checked(path, "a PyTorch program", write, ProgramModel, trained)


def export_torchscript(trained: TrainedModel, path: Path) -> dict[str, Any]:
    """Write the model as TorchScript to path and give back its check against PyTorch.

    Scripting keeps every branch of forward; models that cannot be scripted are traced on an example batch,
    which is sound here because their inputs always have the same shape apart from the batch size.
    """
    with _quiet():
        try:
            program, how = torch.jit.script(trained.model), "scripted"
        except Exception:
            x = torch.from_numpy(example_inputs(trained.spec, 4))
            try:
                program, how = torch.jit.trace(trained.model, (x,), check_trace=False), "traced"
            except Exception as error:
                raise UserError(f"This model could not be turned into TorchScript ({type(error).__name__}).") from None
    with atomic_path(path) as partial:
        with _quiet():
            torch.jit.save(program, str(partial))
            loaded = torch.jit.load(str(partial))
        return compare(TorchModel(loaded), trained) | {"how": how}
