"""Exporting a trained run: an ONNX file and a PyTorch program (torch.export's .pt2), each checked against the
trained model, and a ZIP bundle of both with the fitted preprocessing, the label names and a README whose examples
run as written. TorchScript, which PyTorch deprecates, is made only when asked for by name.

Exports are made once per run, in runs/<id>/export/, and reused while the model file is unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.errors import UserError
from engine.files import atomic_path, register_artifact, write_json
from engine.serving.compress import compress_run, method_text, read_compression, tidy_file
from engine.serving.inputs import inputs_for
from engine.serving.predict import TorchModel, TrainedModel, load_trained
from engine.serving.runtime import (CHECKS_FILE, INT8_FILE, ONNX_FILE, PREPROCESSING_FILE, PROGRAM_FILE,
                                    TORCHSCRIPT_FILE, OnnxModel, bundle_name, export_folder)

TOLERANCE = 1e-4  # largest difference allowed between an export's outputs and PyTorch's, per unit of output above 1
CHECK_BATCHES = (1, 7)  # batch sizes other than the one exported with: the batch dimension must stay free
FORMATS = ("onnx", "pt2", "torchscript", "bundle")
TORCHSCRIPT_NOTE = ("PyTorch deprecates TorchScript; the .pt2 program (--format pt2, also in the bundle) is its "
                    "successor and loads with torch.export.load.")


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
        torch.onnx.export(trained.model, (x,), str(partial), dynamo=True, external_data=False,
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


# ---------------------------------------------------------------- the bundle


def labels_document(prep: dict[str, Any]) -> dict[str, Any]:
    """Give back what the model's outputs mean: label names, or how to turn a number back into the target's units."""
    document: dict[str, Any] = {"task": prep["task"], "target": prep.get("target")}
    if prep["task"] == "classification":
        document["labels"] = list(prep["classes"])
    else:
        document["mean"] = prep.get("target_mean", 0.0)
        document["std"] = prep.get("target_std", 1.0)
    if prep["kind"] == "ratings":
        document["users"] = [str(u) for u in prep.get("users", [])]
        document["items"] = [str(i) for i in prep.get("items", [])]
        document["rating_min"], document["rating_max"] = prep.get("rating_min"), prep.get("rating_max")
    return document


def example_document(trained: TrainedModel, model: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Give back a few ready model inputs with PyTorch's outputs for them (or model's, when given), and for tables
    the raw rows too."""
    prep = trained.preprocessing
    document: dict[str, Any] = {}
    if prep["kind"] == "tabular":
        raw = inputs_for(prep).example(prep)
        x = inputs_for(prep).encode(prep, raw)
        document["rows"] = raw.to_dict(orient="records")
    else:
        x = example_inputs(trained.spec, 2)
    document.update({"inputs": x.tolist(), "dtype": str(x.dtype), "shape": ["batch", *x.shape[1:]],
                     "outputs": (model or TorchModel(trained.model))(x).tolist()})
    return document


INPUT_WORDS = {
    "tabular": "one row of numbers per example, shape (batch, {n_features}), float32: numeric columns scaled and "
               "categories one-hot encoded as `preprocessing.json` says (`encode` below does it).",
    "image": "images, shape (batch, {channels}, {height}, {width}), float32, resized and scaled as "
             "`preprocessing.json` says.",
    "text": "token ids, shape (batch, {max_length}), int64: each text's words looked up in the vocabulary in "
            "`preprocessing.json`, 0 pads the end.",
    "pieces": "word piece ids, shape (batch, {max_length}), int64: each text cut into the pretrained model's word "
              "pieces by `tokenizer.json`, between its start and end marks; 0 pads the end.",
    "ratings": "pairs [user index, item index], shape (batch, 2), int64: the position of the user and of the item "
               "in `labels.json` plus one (0 is an unknown user or item).",
}

OUTPUT_WORDS = {
    "classification": "one score (logit) per label; a softmax turns them into probabilities, in the order of "
                      "`labels.json`.",
    "regression": "one number per example on a standardised scale: multiply by `std` and add `mean` from "
                  "`labels.json` to get it in the target's units.",
    "rating": "one predicted rating per pair on a standardised scale: multiply by `std` and add `mean` from "
              "`labels.json`.",
}

READ_OUTPUTS = {
    "classification": """labels = json.load(open("labels.json"))["labels"]
probabilities = np.exp(outputs - outputs.max(axis=1, keepdims=True))
probabilities /= probabilities.sum(axis=1, keepdims=True)
print([labels[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1))""",
    "regression": """target = json.load(open("labels.json"))
print(outputs[:, 0] * target["std"] + target["mean"])""",
    "rating": """target = json.load(open("labels.json"))
print(outputs[:, 0] * target["std"] + target["mean"])  # predicted ratings of the pairs""",
}

TABLE_ENCODER = '''
For tables, `encode` turns rows given as `{column: value}` into the model's input exactly as Trainyard does:

```python
prep = json.load(open("preprocessing.json"))


def number(value, default):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default  # missing or not a number: the training median
    return default if np.isnan(value) else value


def encode(rows):
    parts = []
    for column in prep["numeric"]:
        values = np.array([number(row.get(column["name"]), column["median"]) for row in rows])
        if column.get("log"):  # a long-tailed column is scaled by its signed logarithm
            values = np.sign(values) * np.log1p(np.abs(values))
        parts.append(((values - column["mean"]) / column["std"])[:, None])
    for column in prep["categorical"]:
        lookup = {category: i for i, category in enumerate(column["categories"])}
        values = ["(missing)" if row.get(column["name"]) is None else str(row[column["name"]]) for row in rows]
        codes = [lookup.get(value, len(lookup)) for value in values]  # last slot: a category never seen in training
        parts.append(np.eye(len(lookup) + 1)[codes])
    return np.concatenate(parts, axis=1).astype(np.float32)


x = encode(example["rows"])
print(session.run(None, {"input": x})[0])
```
'''

TEXT_ENCODER = '''
For texts, `encode` turns them into the model's input exactly as Trainyard does:

```python
import re

prep = json.load(open("preprocessing.json"))
word = re.compile(prep["word_pattern"])
lookup = {w: i + 2 for i, w in enumerate(prep["vocabulary"])}  # 0 pads the end, 1 is a word it never saw


def encode(texts):
    ids = np.zeros((len(texts), prep["max_length"]), dtype=np.int64)
    for row, text in enumerate(texts):
        words = word.findall(text.lower())[: prep["max_length"]]
        ids[row, : len(words)] = [lookup.get(w, 1) for w in words]
    return ids


print(session.run(None, {"input": encode(["The first text", "and a second one"])})[0])
```
'''

IMAGE_ENCODER = '''
For image files, `encode` prepares them as Trainyard does (transparency laid on white, resized, scaled):

```python
from PIL import Image

prep = json.load(open("preprocessing.json"))


def encode(images):
    batch = []
    for image in images:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
        image = image.convert("RGB" if prep["channels"] == 3 else "L")
        image = image.resize((prep["width"], prep["height"]), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32).reshape(prep["height"], prep["width"], prep["channels"]) / 255
        batch.append(((pixels - prep["mean"]) / prep["std"]).transpose(2, 0, 1))
    return np.stack(batch).astype(np.float32)


grey = Image.new("RGB", (prep["width"], prep["height"]), (128, 128, 128))  # or Image.open("photo.jpg")
print(session.run(None, {"input": encode([grey])})[0])
```
'''

RATINGS_RECOMMENDER = '''
To recommend items to a user, score every item for them and keep the best:

```python
users = {user: i + 1 for i, user in enumerate(target["users"])}  # 0 is a user the model never saw


def recommend(user, top=10):
    pairs = np.array([[users.get(str(user), 0), item + 1] for item in range(len(target["items"]))], dtype=np.int64)
    ratings = session.run(None, {"input": pairs})[0][:, 0] * target["std"] + target["mean"]
    ratings = ratings.clip(target["rating_min"], target["rating_max"])
    return [(target["items"][i], round(float(ratings[i]), 2)) for i in np.argsort(-ratings)[:top]]


print(recommend(target["users"][0]))
```
'''

PIECES_ENCODER = '''
For texts, `encode` turns them into the model's input exactly as Trainyard does, with the pretrained model's own
word piece tokenizer (`tokenizer.json`; `pip install tokenizers`):

```python
from tokenizers import Tokenizer

prep = json.load(open("preprocessing.json"))
tokenizer = Tokenizer.from_file("tokenizer.json")
tokenizer.no_padding()
tokenizer.no_truncation()


def encode(texts):
    ids = np.zeros((len(texts), prep["max_length"]), dtype=np.int64)  # 0 pads the end
    for row, found in enumerate(tokenizer.encode_batch(texts)):
        pieces = found.ids
        if len(pieces) > prep["max_length"]:  # the beginning, and the end mark
            pieces = pieces[: prep["max_length"] - 1] + pieces[-1:]
        ids[row, : len(pieces)] = pieces
    return ids


print(session.run(None, {"input": encode(["The first text", "and a second one"])})[0])
```
'''

KIND_EXTRAS = {"tabular": TABLE_ENCODER, "text": TEXT_ENCODER, "image": IMAGE_ENCODER, "ratings": RATINGS_RECOMMENDER}

README = """# {title}

A model trained with Trainyard (run {run_id}: `{model}` on the data set '{dataset}'), to {task_words}.

| File | What it is |
|---|---|
{model_files}
| `preprocessing.json` | how raw inputs were turned into numbers, fitted on the training rows only |
| `labels.json` | what the outputs mean |
| `example_input.json` | a few ready inputs and the outputs {example_runtime} gave for them |

**Input** (`input`): {input_words}
**Output** (`output`): {output_words}

{checked}

## Loading it

Run this in the folder of these files:

```python
import json

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("{onnx_file}")
example = json.load(open("example_input.json"))
x = np.array(example["inputs"], dtype=example["dtype"])
outputs = session.run(None, {{"input": x}})[0]
assert np.allclose(outputs, example["outputs"], rtol={tolerance}, atol={tolerance})
{read_outputs}
```
{torch_part}{extra}
Trainyard can also serve it over HTTP: `python -m engine serve {run_id} --port 8000{serve_option}`, then open
http://127.0.0.1:8000/docs.
"""

FLOAT_FILES = ("| `model.onnx` | the model for ONNX Runtime (any language; `pip install onnxruntime numpy`) |\n"
               "| `model.pt2` | the same model as a PyTorch program made by `torch.export` (`pip install torch`; no "
               "Trainyard code needed) |")

INT8_FILES = ("| `model.int8.onnx` | the model with its weights stored in 8 bits (int8), for ONNX Runtime (any "
              "language; `pip install onnxruntime numpy`) |")

FLOAT_CHECKED = ("Both files were checked against the trained PyTorch model when they were made: their outputs differ "
                 "by at\nmost {onnx:.1g} (ONNX Runtime) and {program:.1g} (PyTorch program).")

INT8_CHECKED = """This is the smaller int8 version of the model, made as {method}.
Measured against the original on the test rows when it was made: {verdict}.
int8 arithmetic differs a little between processors, so the example allows answers a hundredth apart."""

TORCH_PART = """
With PyTorch instead:

```python
import torch

model = torch.export.load("model.pt2").module()
with torch.inference_mode():
    outputs = model(torch.from_numpy(x)).numpy()
assert np.allclose(outputs, example["outputs"], rtol=1e-4, atol=1e-4)
print(outputs)
```
"""

TASK_WORDS = {"classification": "tell which label an input has", "regression": "predict the number '{target}'",
              "rating": "predict how a user would rate an item"}


def readme(trained: TrainedModel, checks: dict[str, Any], compression: dict[str, Any] | None = None) -> str:
    """Give back the bundle's README: of the float model checked against PyTorch, or of the int8 model with its
    measurement (compression, from engine.serving.compress) when given."""
    prep, spec = trained.preprocessing, trained.spec
    inputs = "pieces" if prep.get("word_pieces") else prep["kind"]
    if compression is None:
        variant = {"model_files": FLOAT_FILES, "example_runtime": "PyTorch", "onnx_file": ONNX_FILE,
                   "tolerance": "1e-4", "torch_part": TORCH_PART, "serve_option": "",
                   "checked": FLOAT_CHECKED.format(onnx=checks["onnx"]["max_abs_difference"],
                                                   program=checks["pt2"]["max_abs_difference"])}
    else:
        variant = {"model_files": INT8_FILES, "example_runtime": "this int8 model in ONNX Runtime",
                   "onnx_file": INT8_FILE, "tolerance": "1e-2", "torch_part": "", "serve_option": " --quantized",
                   "checked": INT8_CHECKED.format(method=method_text(compression), verdict=compression["verdict"])}
    return README.format(**variant,
        title=f"Trainyard run {trained.run_id}", run_id=trained.run_id, model=trained.config["model"]["name"],
        dataset=trained.dataset.get("name", "?"),
        task_words=TASK_WORDS[prep["task"]].format(target=prep.get("target", "target")),
        input_words=INPUT_WORDS[inputs].format(**spec),
        output_words=OUTPUT_WORDS[prep["task"]],
        read_outputs=READ_OUTPUTS[prep["task"]],
        extra=PIECES_ENCODER if inputs == "pieces" else KIND_EXTRAS.get(prep["kind"], ""),
    )


def write_bundle(trained: TrainedModel, folder: Path, checks: dict[str, Any], path: Path,
                 compression: dict[str, Any] | None = None) -> None:
    """Write the ZIP bundle of the run's exports to path: the float models, or with compression (the int8 model's
    measurement) the int8 model alone."""
    root = f"trainyard-run-{trained.run_id}" + ("-int8" if compression else "")
    example = example_document(trained, OnnxModel(folder / INT8_FILE, threads=1) if compression else None)
    documents = {"preprocessing.json": trained.preprocessing, "labels.json": labels_document(trained.preprocessing),
                 "example_input.json": example}
    with atomic_path(path) as partial:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{root}/README.md", readme(trained, checks, compression))
            for name, document in documents.items():
                archive.writestr(f"{root}/{name}", json.dumps(document, indent=1))
            for name in ([INT8_FILE] if compression else [ONNX_FILE, PROGRAM_FILE]):
                archive.write(folder / name, f"{root}/{name}")
            if trained.preprocessing.get("word_pieces"):  # the pretrained text model's own tokenizer
                from engine.data.text import PIECE_TOKENIZER
                from engine.models.registry import package_file

                archive.write(package_file(trained.preprocessing["word_pieces"], PIECE_TOKENIZER),
                              f"{root}/tokenizer.json")


# ---------------------------------------------------------------- a run's exports


def _read_checks(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / CHECKS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def export_run(run_id: int, fmt: str, out: Path | None = None, quantize: str | None = None,
               prune: float | None = None) -> dict[str, Any]:
    """Make (or reuse) the run's export in fmt, copy it to out when given, and describe it.

    With quantize="int8", the export is the int8 version of the ONNX model (after pruning the share `prune` of the
    weights, when given), or its own bundle; "check" is then its measurement (engine.serving.compress).
    Gives back {"run", "format", "path", "bytes", "check"} (and "quantize"); raises UserError in plain words.
    """
    from db import access
    from engine.files import model_path

    actor = access.require("export")
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
    if quantize not in (None, "int8"):
        raise UserError(f"Unknown quantisation '{quantize}'. The one there is: int8.")
    if quantize and fmt in ("pt2", "torchscript"):
        raise UserError("The int8 version is made from the ONNX model: use --format onnx or --format bundle.")
    if prune is not None and not quantize:
        raise UserError("--prune goes with --quantize int8: pruning is measured on the int8 version.")
    trained = load_trained(run_id)
    folder = export_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    checks = _read_checks(folder)
    files = {"onnx": folder / ONNX_FILE, "pt2": folder / PROGRAM_FILE, "torchscript": folder / TORCHSCRIPT_FILE,
             "bundle": folder / bundle_name(run_id)}
    model_time = model_path(run_id).stat().st_mtime

    def fresh(name: str) -> bool:
        return name in checks and files[name].exists() and files[name].stat().st_mtime >= model_time

    def make(name: str, build: Callable[[], dict[str, Any]]) -> None:
        checks[name] = build()
        write_json(folder / CHECKS_FILE, checks)
        register_artifact(run_id, name, files[name])

    write_json(folder / PREPROCESSING_FILE, trained.preprocessing)  # the playground reads it next to the ONNX file
    needed = {"bundle": ["onnx", "pt2", "bundle"]}.get(fmt, [fmt])

    def bundle() -> dict[str, Any]:
        write_bundle(trained, folder, checks, files["bundle"])
        return {"onnx": checks["onnx"], "pt2": checks["pt2"]}

    builders = {"onnx": lambda: export_onnx(trained, files["onnx"]),
                "pt2": lambda: export_program(trained, files["pt2"]),
                "torchscript": lambda: export_torchscript(trained, files["torchscript"]), "bundle": bundle}
    if quantize:
        needed = ["onnx"]  # the float model, which the int8 one is made from and measured against
    for name in needed:
        if not fresh(name):
            make(name, builders[name])
    target, check = files[fmt], checks.get(fmt)
    if quantize:
        target, check = _int8_export(trained, fmt, checks, prune)
    if out is not None:
        out = Path(out)
        if out.is_dir():
            out = out / (bundle_name(run_id, bool(quantize)) if fmt == "bundle" else target.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, out)
        target = out
    access.audit("export", f"run {run_id}", fmt + (f", {quantize}" if quantize else ""), actor)
    return {"run": run_id, "format": fmt, "path": str(target), "bytes": target.stat().st_size, "check": check} | (
        {"quantize": quantize} if quantize else {}) | ({"note": TORCHSCRIPT_NOTE} if fmt == "torchscript" else {})


def _int8_export(trained: TrainedModel, fmt: str, checks: dict[str, Any],
                 prune: float | None) -> tuple[Path, dict[str, Any]]:
    """Make (or reuse) the run's int8 model, and its bundle for fmt "bundle"; give back the file and its
    measurement."""
    run_id, folder = trained.run_id, export_folder(trained.run_id)
    compression = read_compression(run_id, prune) or compress_run(trained, export_onnx, prune)
    target = folder / INT8_FILE
    if fmt == "bundle":
        target = folder / bundle_name(run_id, quantized=True)
        if not target.exists() or target.stat().st_mtime < (folder / INT8_FILE).stat().st_mtime:
            write_bundle(trained, folder, checks, target, compression)
            register_artifact(run_id, "bundle_int8", target)
    return target, compression
