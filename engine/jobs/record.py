"""What a run records when it is trained, and its evaluation read back whole.

The training code computes (engine.training.report makes the evaluation report, engine.training.reference fits the
classical model); the functions here save the report in the run's folder, register it, and record the run's test
figures and its classical reference in the database: the runner calls them when a run ends, and
evaluation_document when an older run's evaluation is asked for and something is missing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from db import repo
from db.models import RunStatus
from db.session import run_folder
from engine.errors import UserError
from engine.files import register_artifact
from engine.training.report import EVALUATION_FILE, clean, evaluation_report, save_report


def save_evaluation(run_id: int, report: dict[str, Any]) -> None:
    """Save a run's evaluation report in its folder and register it as the run's evaluation."""
    path = run_folder(run_id) / EVALUATION_FILE
    save_report(path, report)
    register_artifact(run_id, "evaluation", path)


def write_evaluation(run_id: int, model, data, device=None, reference: dict[str, Any] | None = None,
                     answering: tuple[Any, np.ndarray] | None = None) -> dict[str, Any] | None:
    """Compute the report of a trained model on data's test split, save it in the run folder and register it.

    reference, the classical model fitted beside the run (engine.training.reference), is kept in the report.
    answering, (a module, its test inputs), gives the same outputs sooner: a pretrained model's head on the cached
    features of the test examples. A failure here is logged on the run and never fails training.
    """
    try:
        import torch

        from engine.training.evaluate import predict_batches

        x_test, y_test = data.arrays["test"]
        module, x = answering or (model, x_test)
        module.to(device or "cpu")
        outputs = predict_batches(module, torch.from_numpy(x), device=device).cpu().numpy()
        module.to("cpu")
        report = evaluation_report(data.preprocessing, x_test, y_test, outputs, data.arrays["train"][1])
        if reference is not None:
            report["reference"] = clean(reference)
        save_evaluation(run_id, report)
        return report
    except Exception as error:
        repo.add_event(run_id, f"The evaluation report could not be made ({type(error).__name__}: {error}).",
                       level="warning")
        return None


# The evaluation report's figures that are also a run's test figures: recorded once more from the report, so the
# run page, the run lists, `runs show`, the Evaluate page and `evaluate` give one figure per fact (the training
# loop's own test score did not clip predicted ratings to the scale, as the report and every prediction do).
TEST_FIGURES = {"classification": ("accuracy", "f1_macro", "precision_macro", "recall_macro"),
                "regression": ("rmse", "mae", "r2"), "rating": ("rmse", "mae")}


def record_test_figures(run_id: int, report: dict[str, Any] | None, step: int, epoch: float) -> None:
    """Make the run's test_* figures the evaluation report's own; without a report, the training loop's stay."""
    if report is None:
        return
    now = time.time()
    points = [(f"test_{name}", step, float(report["metrics"][name]), epoch, now)
              for name in TEST_FIGURES[report["task"]] if name in report["metrics"]]
    if points:
        repo.replace_metrics(run_id, points)


def record_reference(run_id: int, reference: dict[str, Any], report: dict[str, Any] | None, step: int = 0) -> None:
    """Record a run's classical reference as a final metric (reference_accuracy or reference_rmse, which run lists
    show) and as a sentence in its history; the evaluation report holds the reference itself.

    A failure here is logged on the run and never fails training.
    """
    from engine.training.reference import reference_sentence

    try:
        if "skipped" not in reference:
            repo.log_metrics(run_id, [(f"reference_{reference['metric']}", step, reference["value"], None,
                                       time.time())])
        if report is not None:
            run = repo.get_run(run_id) or {}
            repo.add_event(run_id, reference_sentence(reference, report, (run.get("config") or {}).get("preset")))
        elif "skipped" in reference:
            repo.add_event(run_id, f"No simple classical model was fitted to compare with. {reference['skipped']}")
    except Exception as error:
        repo.add_event(run_id, f"The classical reference could not be recorded ({type(error).__name__}: {error}).",
                       level="warning")


def late_reference(run: dict[str, Any], dataset: dict[str, Any] | None = None, data=None,
                    kind: str = "") -> dict[str, Any]:
    """Give back the classical reference of a run that finished without one, fitted within the time a run allows."""
    from db.explorer import run_seconds
    from engine.data.prepare import prepare_run_data
    from engine.training.reference import MODEL_NAMES, fit_reference, reference_limit

    limit = reference_limit(run_seconds(run) or 0.0)
    if data is None:
        try:
            dataset, data = prepare_run_data(run)
        except Exception as error:  # the data set was deleted or changed: the report itself is still good
            return {"model": MODEL_NAMES.get(kind, "a classical model"), "skipped": f"The run's data could not be "
                    f"read again ({error}).", "seconds": 0.0, "limit_seconds": limit}
    return fit_reference(dataset, data, limit)


def evaluation_document(run_id: int) -> dict[str, Any]:
    """Give back the run's evaluation report with its classical reference and that reference's sentence, computing
    what is missing first for runs trained before reports or references existed."""
    from engine.data.prepare import prepare_run_data
    from engine.training.crossval import CROSSVAL_FILE
    from engine.training.reference import reference_sentence

    run = repo.get_run(run_id)
    if run is None:
        raise UserError(f"There is no run {run_id}. `python -m engine runs list` shows them.")
    path = run_folder(run_id) / EVALUATION_FILE
    if not path.exists():
        if run["status"] != RunStatus.COMPLETED:
            raise UserError(f"Run {run_id} has not finished training, so it has no evaluation yet.")
        from engine.serving.predict import load_trained

        trained = load_trained(run_id)
        dataset, data = prepare_run_data(run)
        reference = late_reference(run, dataset, data)
        report = write_evaluation(run_id, trained.model, data, reference=reference)
        if report is None:
            raise UserError(f"The evaluation of run {run_id} could not be made; the run's history says why.")
        record_reference(run_id, reference, report)
    document = json.loads(path.read_text())
    if "reference" not in document and run["status"] == RunStatus.COMPLETED:
        document["reference"] = late_reference(run, kind=document.get("kind", ""))
        save_evaluation(run_id, document)
        record_reference(run_id, document["reference"], document)
    crossval = run_folder(run_id) / CROSSVAL_FILE
    if crossval.exists():
        document["cross_validation"] = json.loads(crossval.read_text())
    if "reference" in document:
        document["reference"]["sentence"] = reference_sentence(document["reference"], document,
                                                               (run.get("config") or {}).get("preset"))
    return {"run": run_id} | document
