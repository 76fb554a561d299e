"""Starting a run from an earlier run's weights (`training.init_from`), on the same data set or another one.

Every weight of the earlier model that has the same name and shape in the new one is copied, except:
- the last layer's, when the new data set's labels are not the earlier run's (it starts afresh: its outputs would
  mean other things);
- the weights tied to the inputs' own numbering (a word vocabulary, table columns, user and item ids), when the
  new data set numbers its inputs differently (the same ids would mean other words, columns or people).
Which weights those are is found by building the model for one more output, or one more input, and seeing which
shapes change, so every model of the zoo is covered without a list per model.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from db.models import RunStatus
from engine.errors import UserError

OUTPUT_KEY = "n_outputs"
INPUT_KEYS = ("vocab_size", "n_features", "n_users", "n_items")


def source_run(run_id: int, model_name: str | None = None) -> dict[str, Any]:
    """Give back the finished run that a new run of model_name (None: of the run's own model) may start from, or
    say plainly why it cannot."""
    from db import repo
    from engine.models.registry import MODELS
    from engine.files import model_path

    run = repo.get_run(run_id)
    if run is None:
        raise UserError(f"There is no run {run_id} to start from. `python -m engine runs list` shows the runs.")
    if run["status"] != RunStatus.COMPLETED:
        raise UserError(f"Run {run_id} has not finished ({run['status']}), so it has no trained weights to start "
                        "from. Choose a completed run.")
    if model_name is not None and run["model"] != model_name:
        theirs = MODELS[run["model"]].title if run["model"] in MODELS else run["model"]
        raise UserError(f"Run {run_id} trained a {theirs}, not a {MODELS[model_name].title}: a run can only start "
                        "from a run of the same model. Choose that model, or another run.")
    if not model_path(run_id).exists():
        raise UserError(f"The trained model of run {run_id} is no longer stored, so the run cannot start from it.")
    return run


def _changing(config: Any, spec: dict[str, Any], keys: tuple[str, ...]) -> set[str]:
    """Give back the names of the weights whose shape depends on any of keys of the data's spec."""
    from engine.models.registry import build_model

    def shapes(of: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        with warnings.catch_warnings(), torch.device("meta"):  # shapes only: no memory, no numbers drawn
            warnings.simplefilter("ignore")
            return {name: tuple(value.shape) for name, value in build_model(config, of).state_dict().items()}

    plain = shapes(spec)
    changed: set[str] = set()
    for key in keys:
        if isinstance(spec.get(key), int):
            more = shapes({**spec, key: spec[key] + 1})
            changed |= {name for name, shape in plain.items() if more.get(name) != shape}
    return changed


def input_identity(prep: dict[str, Any]) -> Any:
    """Give back what numbers a data set's inputs: its words, its columns and their categories, its users and
    items. Two data sets with the same identity give the same id the same meaning."""
    kind = prep.get("kind")
    if kind == "text":
        return prep.get("word_pieces") or prep.get("vocabulary")
    if kind == "tabular":  # the layout of engine.data.prepare_tables.column_inputs
        numeric = prep.get("numeric", [])
        return ([column.get("name") for column in numeric],
                [(column.get("name"), column.get("categories")) for column in prep.get("categorical", [])],
                [column.get("name") for column in numeric if column.get("missing_input")],
                [(column.get("name"), column.get("words")) for column in prep.get("texts", [])])
    if kind == "ratings":
        return prep.get("users"), prep.get("items")
    return None


def start_from_run(model: nn.Module, config: Any, spec: dict[str, Any], preprocessing: dict[str, Any],
                   run_id: int) -> str:
    """Copy the fitting weights of the earlier run run_id into model (built from config for spec), after checking
    that it may be started from; give back a sentence that says what was copied and what starts afresh."""
    from engine.files import model_path
    from engine.training.checkpoint import load_checkpoint

    source_run(run_id, config.name)
    earlier = load_checkpoint(model_path(run_id))
    theirs, theirs_prep = earlier["model"], earlier["preprocessing"]
    if hasattr(model, "upgrade_state"):  # saved in an earlier layout of this model
        theirs = model.upgrade_state(theirs)
    same_labels = (theirs_prep.get("task") == preprocessing.get("task")
                   and theirs_prep.get("classes") == preprocessing.get("classes"))
    same_inputs = input_identity(theirs_prep) == input_identity(preprocessing)
    outputs = set() if same_labels else _changing(config, spec, (OUTPUT_KEY,))
    inputs = set() if same_inputs else _changing(config, spec, INPUT_KEYS) - outputs
    skipped = outputs | inputs
    own = model.state_dict()
    taken = {name: value for name, value in theirs.items()
             if name in own and name not in skipped and tuple(value.shape) == tuple(own[name].shape)}
    matrices = [name for name, value in own.items() if value.is_floating_point() and value.dim() >= 2]
    if not any(name in taken for name in matrices):  # a bias or two alone would be no start at all
        raise UserError(f"None of run {run_id}'s weights can carry over to this model: its settings give layers of "
                        "other sizes, or its layers all read inputs or give answers that differ from that run's. "
                        "Start from fresh weights, or from a run with the same settings on similar data.")
    if hasattr(model, "encoder_changed"):  # a pretrained encoder that run tuned reads the data in its own way
        model.encoder_changed = any(name.startswith("encoder.") and not torch.equal(value, own[name])
                                    for name, value in taken.items())
    model.load_state_dict(taken, strict=False)
    words = f"Started from the weights of run {run_id} ({len(taken)} of {len(own)} weight tensors)"
    fresh = []
    if not same_labels:
        fresh.append("the last layer starts afresh, as the labels differ from that run's")
    if inputs:
        fresh.append("the weights tied to the inputs start afresh, as this data set's inputs differ")
    return words + ("; " + " and ".join(fresh) if fresh else "") + "."
