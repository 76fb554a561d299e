"""Command-line handlers for using a trained run: predict, evaluate, export and serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.cli.common import emit, find_run, table_text
from engine.errors import UserError
from engine.serving import DEFAULT_TOP, MAX_TOP
from engine.words import plain_number


def _prediction_text(answers: list[dict[str, Any]]) -> str:
    from engine.serving.inputs import item_label

    if answers and "top_items" in answers[0]:
        return "\n".join(f"{a['user']}: " + ", ".join(f"{item_label(t)} ({t['predicted_rating']:.2f})"
                                                      for t in a["top_items"]) for a in answers)
    if answers and "confidence" in answers[0]:
        return table_text([[a["input"], a["prediction"], f"{a['confidence']:.0%}"] for a in answers],
                      ["INPUT", "PREDICTION", "CONFIDENCE"])
    return table_text([[a["input"], f"{a['prediction']:.6g}"] for a in answers], ["INPUT", "PREDICTION"])


def cmd_predict(args) -> None:
    from engine.serving.predict import load_trained, torch_predictor

    find_run(args.run_id)
    predictor = torch_predictor(load_trained(args.run_id))
    raw, names = predictor.inputs.read_files(predictor.preprocessing, args.inputs)
    answers = predictor.predict(raw, names, top=args.top)
    emit(args, answers, _prediction_text(answers))


def cmd_evaluate(args) -> None:
    from engine.jobs.record import evaluation_document

    document = evaluation_document(find_run(args.run_id)["id"])
    metrics = ", ".join(f"{k} {plain_number(v, 4, separators=False)}" for k, v in document["metrics"].items()
                        if isinstance(v, (int, float)))
    sentences = document["summary"] + ([document["reference"]["sentence"]] if "reference" in document else [])
    emit(args, document, "\n".join(sentences) + f"\n\n{metrics}")


def cmd_export(args) -> None:
    from engine.serving.export import export_run

    find_run(args.run_id)
    result = export_run(args.run_id, args.format, Path(args.out) if args.out else None, args.quantize, args.prune)
    if args.quantize:
        from engine.serving.measure import table_text

        emit(args, result,
             f"Wrote {result['path']} ({result['bytes'] / 1024:,.0f} KB).\n\n{table_text(result['check'])}")
        return
    check = result["check"]
    difference = max(c["max_abs_difference"] for c in check.values()) if args.format == "bundle" else (
        check["max_abs_difference"])
    note = f"\n{result['note']}" if "note" in result else ""
    emit(args, result, f"Wrote {result['path']} ({result['bytes'] / 1024:,.0f} KB); its outputs match the trained "
                       f"model within {difference:.1g}.{note}")


def cmd_serve(args) -> None:
    from pydantic import ValidationError

    from engine.serving.http import ServeOptions, serve

    find_run(args.run_id)
    try:
        options = ServeOptions(host=args.host, port=args.port, runtime=args.runtime, quantized=args.quantized,
                               token=args.token, insecure=args.insecure, workers=args.workers,
                               max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms, timeout_s=args.timeout)
    except ValidationError as error:
        problem = error.errors()[0]
        raise UserError(f"--{str(problem['loc'][0]).replace('_', '-')}: {problem['msg']}.") from None
    if args.background:
        from engine.serving.services import start_service

        service = start_service(args.run_id, options)
        emit(args, service, f"Serving run {args.run_id} in the background at {service['url']} (process "
                            f"{service['pid']}); stop it with `python -m engine services stop {args.run_id}`.")
        return
    serve(args.run_id, options)


def cmd_services(args) -> None:
    from engine.serving.services import running_services, stop_service

    if args.action == "stop":
        if args.run_id is None:
            raise UserError("Say which run's service to stop: `services stop RUN_ID`.")
        emit(args, stop_service(args.run_id), f"Stopped the service of run {args.run_id}.")
        return
    services = running_services()
    emit(args, services, table_text([[s["run"], s["url"], s["pid"], "yes" if s["token"] else "no", s["started"]]
                                 for s in services], ["RUN", "ADDRESS", "PROCESS", "TOKEN", "STARTED"])
         if services else "No service is running. Start one with `python -m engine serve RUN_ID --background`.")


def register(commands, command) -> None:
    """Add predict, evaluate, export and serve to the command line's subcommands."""
    predict = command(commands, "predict", cmd_predict, "predict with a trained run's model")
    predict.add_argument("run_id", type=int, metavar="RUN_ID")
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="files of rows (CSV, Excel, Parquet, JSON) for tables and texts, image files, or user "
                              "ids (ratings)")
    predict.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N",
                         help=f"items to recommend per user (ratings; default {DEFAULT_TOP}, at most {MAX_TOP})")

    evaluate = command(commands, "evaluate", cmd_evaluate, "show a run's evaluation on its test split")
    evaluate.add_argument("run_id", type=int, metavar="RUN_ID")

    export = command(commands, "export", cmd_export,
                     "export a run's model as ONNX, a PyTorch program (.pt2), or a ZIP bundle of both")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", default="bundle", choices=["onnx", "pt2", "bundle", "torchscript"],
                        help="bundle (default): a ZIP of the ONNX file, the .pt2 program, the preprocessing and a "
                             "README with working examples; torchscript only on request, as PyTorch deprecates it")
    export.add_argument("--out", metavar="PATH", help="where to write it (default: the run's export folder)")
    export.add_argument("--quantize", choices=["int8"],
                        help="a smaller int8 version of the ONNX model, measured against the original (table printed)")
    export.add_argument("--prune", type=float, metavar="SHARE",
                        help="with --quantize: first set this share of the weights (the smallest) to zero, e.g. 0.5")

    serve = command(commands, "serve", cmd_serve, "answer predictions over HTTP (documentation at /docs)")
    serve.add_argument("run_id", type=int, metavar="RUN_ID")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; the default answers this machine only, another needs a token")
    serve.add_argument("--runtime", default="onnx", choices=["onnx", "torch"],
                       help="ONNX Runtime on the exported model (default), or PyTorch")
    serve.add_argument("--quantized", action="store_true",
                       help="answer with the smaller int8 version of the model (made first when missing)")
    serve.add_argument("--token", help="a token every request must carry as 'Authorization: Bearer <token>' "
                                       "(or set TRAINYARD_SERVE_TOKEN, which keeps it out of the process list)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow listening beyond this machine without a token")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="processes answering requests, each with the whole model (default 1)")
    serve.add_argument("--max-batch", type=int, default=64, metavar="N",
                       help="most inputs the model answers in one call when requests arrive together (default 64)")
    serve.add_argument("--batch-wait-ms", type=float, default=2.0, metavar="MS",
                       help="how long a call waits for more requests once they arrive together (default 2)")
    serve.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                       help="longest a request may take before it is answered 504 (default 30)")
    serve.add_argument("--background", action="store_true",
                       help="start the service as its own process and come back at once (see `services`)")

    services = command(commands, "services", cmd_services, "list the model services running here, or stop one")
    services.add_argument("action", nargs="?", default="list", choices=["list", "stop"])
    services.add_argument("run_id", nargs="?", type=int, metavar="RUN_ID")
