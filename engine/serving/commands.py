"""Command-line handlers for using a trained run: predict, evaluate, export and serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.cli import _get_run, _table, emit
from engine.errors import UserError
from engine.serving import DEFAULT_TOP, MAX_TOP


def _prediction_text(answers: list[dict[str, Any]]) -> str:
    if answers and "top_items" in answers[0]:
        return "\n".join(f"{a['user']}: " + ", ".join(f"{t['item']} ({t['predicted_rating']:.2f})"
                                                      for t in a["top_items"]) for a in answers)
    if answers and "confidence" in answers[0]:
        return _table([[a["input"], a["prediction"], f"{a['confidence']:.0%}"] for a in answers],
                      ["INPUT", "PREDICTION", "CONFIDENCE"])
    return _table([[a["input"], f"{a['prediction']:.6g}"] for a in answers], ["INPUT", "PREDICTION"])


def cmd_predict(args) -> None:
    from engine.serving.predict import load_trained, torch_predictor

    _get_run(args.run_id)
    predictor = torch_predictor(load_trained(args.run_id))
    raw, names = predictor.inputs.read_files(predictor.preprocessing, args.inputs)
    answers = predictor.predict(raw, names, top=args.top)
    emit(args, answers, _prediction_text(answers))


def evaluation_document(run_id: int) -> dict[str, Any]:
    """Give back the run's evaluation report, computing it first for runs trained before reports existed."""
    from db import repo
    from engine.serving.runtime import run_folder
    from engine.training.crossval import CROSSVAL_FILE
    from engine.training.report import EVALUATION_FILE

    run = _get_run(run_id)
    path = run_folder(run_id) / EVALUATION_FILE
    if not path.exists():
        if run["status"] != "completed":
            raise UserError(f"Run {run_id} has not finished training, so it has no evaluation yet.")
        from engine.config import RunConfig
        from engine.data.prepare import prepare_dataset
        from engine.serving.predict import load_trained
        from engine.training.report import write_evaluation

        trained = load_trained(run_id)
        split = RunConfig.model_validate(trained.config).split
        data = prepare_dataset(repo.get_dataset(run["dataset_id"]), split.validation_fraction, split.test_fraction,
                               split.seed)
        if write_evaluation(run_id, trained.model, data) is None:
            raise UserError(f"The evaluation of run {run_id} could not be made; the run's history says why.")
    document = json.loads(path.read_text())
    crossval = run_folder(run_id) / CROSSVAL_FILE
    if crossval.exists():
        document["cross_validation"] = json.loads(crossval.read_text())
    return {"run": run_id} | document


def cmd_evaluate(args) -> None:
    document = evaluation_document(args.run_id)
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in document["metrics"].items() if isinstance(v, (int, float)))
    emit(args, document, "\n".join(document["summary"]) + f"\n\n{metrics}")


def cmd_export(args) -> None:
    from engine.serving.export import export_run

    _get_run(args.run_id)
    result = export_run(args.run_id, args.format, Path(args.out) if args.out else None)
    check = result["check"]
    difference = max(c["max_abs_difference"] for c in check.values()) if args.format == "bundle" else (
        check["max_abs_difference"])
    emit(args, result, f"Wrote {result['path']} ({result['bytes'] / 1024:,.0f} KB); its outputs match the trained "
                       f"model within {difference:.1g}.")


def cmd_serve(args) -> None:
    from engine.serving.http import serve

    _get_run(args.run_id)
    serve(args.run_id, host=args.host, port=args.port, runtime=args.runtime)


def register(commands, command) -> None:
    """Add predict, evaluate, export and serve to the command line's subcommands."""
    predict = command(commands, "predict", cmd_predict, "predict with a trained run's model")
    predict.add_argument("run_id", type=int, metavar="RUN_ID")
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="CSV or Parquet files of rows (tables, texts), image files, or user ids (ratings)")
    predict.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N",
                         help=f"items to recommend per user (ratings; default {DEFAULT_TOP}, at most {MAX_TOP})")

    evaluate = command(commands, "evaluate", cmd_evaluate, "show a run's evaluation on its test split")
    evaluate.add_argument("run_id", type=int, metavar="RUN_ID")

    export = command(commands, "export", cmd_export,
                     "export a run's model as ONNX, TorchScript, or a ZIP bundle of both")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", default="bundle", choices=["onnx", "torchscript", "bundle"])
    export.add_argument("--out", metavar="PATH", help="where to write it (default: the run's export folder)")

    serve = command(commands, "serve", cmd_serve, "answer predictions over HTTP (OpenAPI at /docs)")
    serve.add_argument("run_id", type=int, metavar="RUN_ID")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; the default answers this machine only")
    serve.add_argument("--runtime", default="onnx", choices=["onnx", "torch"],
                       help="ONNX Runtime on the exported model (default), or PyTorch")
