"""Command-line handlers for sweeps: `sweep create|show|list|cancel`, and Auto (`train --preset auto`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from db.models import FINISHED, RunStatus
from engine.cli.common import emit, find_dataset, ready, table_text
from engine.errors import UserError
from engine.words import plain_number


def read_space(path: str | None, params: list[str] | None) -> dict[str, dict[str, Any]]:
    """Give back the search space from a JSON file and/or `--param` options (a --param wins over the file)."""
    from engine.search.space import parse_param

    space: dict[str, dict[str, Any]] = {}
    if path:
        try:
            space = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"There is no file at '{path}'.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"'{path}' is not a JSON file ({error}). It maps each setting to "
                            '{"low": …, "high": …, "log": true} or {"choices": [...]}.') from None
        if not isinstance(space, dict):
            raise UserError(f"'{path}' must hold one JSON object: setting → range or choices.")
    for text in params or []:
        key, spec = parse_param(text)
        space[key] = spec
    return space


def _wait(sweep_id: int) -> dict[str, Any]:
    from db import repo
    from engine.jobs.worker import STALE_SECONDS, start_background_worker
    from engine.search.running import wait_for_sweep

    started = None if repo.alive_workers(STALE_SECONDS) else start_background_worker()
    try:
        return wait_for_sweep(sweep_id)
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=30)


def _created(args, sweep: dict[str, Any], started: str) -> None:
    """Print a new sweep: with --wait, its trials and outcome once it has ended; else how to follow it."""
    from engine.search.results import sweep_document

    if args.wait:
        _wait(sweep["id"])
    document = sweep_document(sweep["id"])
    emit(args, document, _summary_text(document) if args.wait else
         f"{started} `python -m engine sweep show {sweep['id']}` follows it.")


def _summary_text(document: dict[str, Any]) -> str:
    counts = document["counts"]
    done = sum(counts[status] for status in FINISHED)
    planned = (f"{done} trials ended within its {document['budget_seconds'] / 60:g}-minute budget"
               if document["budget_seconds"] else f"{done} of {document['trials_planned']} trials ended")
    lines = [f"Sweep {document['id']} '{document['name'] or ''}' on {document['dataset']}: {document['status']}, "
             f"{planned} ({counts[RunStatus.COMPLETED]} finished, {counts[RunStatus.PRUNED]} stopped early, "
             f"{counts[RunStatus.FAILED]} failed), {counts[RunStatus.RUNNING]} training, {counts[RunStatus.QUEUED]} "
             "waiting."]
    lines += [f"  {line}" for line in document["space_words"]]
    rows = [[t["number"] + 1, t["run_id"], t["status"], t["model"],
             "" if t["value"] is None else plain_number(t["value"], 4),
             ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items())]
            for t in sorted(document["trials"], key=_rank(document))]
    if rows:
        lines += ["", table_text(rows, ["TRIAL", "RUN", "STATUS", "MODEL", document["metric"].upper(), "SETTINGS"])]
    if document["importance"]:
        lines += ["", "What mattered most: " + ", ".join(f"{k} {v:.0%}" for k, v in document["importance"].items())]
    if document["outcome"]:
        lines += ["", document["outcome"]]
    elif document["best"]:
        lines += ["", f"Best so far: run {document['best']['run_id']} ({plain_number(document['best']['value'], 4)})."]
    return "\n".join(lines)


def _rank(document: dict[str, Any]):
    sign = 1 if document["direction"] == "minimize" else -1

    def key(trial: dict[str, Any]):
        return (trial["value"] is None, sign * (trial["value"] or 0), trial["number"])
    return key


def cmd_sweep_create(args) -> None:
    from engine.search.sweeps import create_sweep

    dataset = find_dataset(args.dataset)
    from engine.cli.common import parse_value
    from engine.config import set_dotted
    from engine.presets import suggested_model

    changes: dict[str, Any] = {}
    for item in args.set or []:
        if "=" not in item:
            raise UserError(f"'--set {item}' needs the form KEY=VALUE, for example --set training.epochs=10.")
        key, value = item.split("=", 1)
        set_dotted(changes, key.strip(), parse_value(value.strip()))
    space = read_space(args.space, args.param)
    sweep = create_sweep(dataset, args.model or [suggested_model(dataset)], space, method=args.method,
                         metric=args.metric, direction=args.direction, trials=args.trials, parallel=args.parallel,
                         preset=args.preset, changes=changes, name=args.name, pruner=args.pruner)
    _created(args, sweep, f"Sweep {sweep['id']} created: {sweep['trials']} trials, {sweep['parallel']} at a time; "
                          "the first are queued.")


def cmd_sweep_show(args) -> None:
    from engine.search.results import sweep_document

    ready()
    document = sweep_document(args.sweep_id)
    emit(args, document, _summary_text(document))


def cmd_sweep_list(args) -> None:
    from db import repo

    ready()
    sweeps = repo.list_sweeps()
    documents = [{k: s[k] for k in ("id", "name", "status", "dataset", "models", "method", "metric", "direction",
                                    "trials", "parallel", "budget_seconds", "auto", "created_at", "finished_at")}
                 | {"counts": s["counts"]} for s in sweeps]
    rows = [[s["id"], s["name"] or "", s["status"], s["dataset"], ", ".join(s["models"]), s["method"],
             f"{sum(s['counts'].get(status, 0) for status in FINISHED)}"
             f"/{'auto' if s['auto'] else s['trials']}"] for s in sweeps]
    emit(args, documents, table_text(rows, ["ID", "NAME", "STATUS", "DATA SET", "MODELS", "METHOD", "TRIALS"])
         if sweeps else "No sweeps yet.")


def cmd_sweep_cancel(args) -> None:
    from engine.search.running import cancel_sweep

    ready()
    text = cancel_sweep(args.sweep_id, stop_running=args.stop_running)
    emit(args, {"id": args.sweep_id, "message": text}, text)


def train_auto(args, dataset: dict[str, Any]) -> None:
    """`train --preset auto --budget 10m`: an Auto sweep; with --wait it ends by naming the best run."""
    from engine.search.sweeps import create_auto, parse_budget

    budget = parse_budget(args.budget)
    if budget is None:
        raise UserError("Auto needs a time budget: add --budget, for example --budget 10m.")
    for option in ("model", "epochs", "batch_size", "lr", "optimizer", "set"):
        if getattr(args, option):
            raise UserError(f"Auto chooses the models and settings itself; leave out --{option.replace('_', '-')}, "
                            "or use `python -m engine sweep create` to search your own space.")
    sweep = create_auto(dataset, budget, name=args.name)
    _created(args, sweep, f"Auto started as sweep {sweep['id']}: it tries models and settings for "
                          f"{budget / 60:g} minutes.")


def register(commands, command) -> None:
    """Add `sweep create|show|list|cancel` to the command line's subcommands."""
    from engine.search.sweeps import METHODS, PRUNERS

    sweep = commands.add_parser("sweep", help="search settings over many runs (Optuna)").add_subparsers(
        dest="sub", required=True)
    create = command(sweep, "create", cmd_sweep_create, "start a sweep: runs over a search space of settings")
    create.add_argument("--dataset", required=True, metavar="NAME_OR_ID")
    create.add_argument("--model", action="append", help="a model to try (repeat for several; default: the data "
                                                         "set's suggested model)")
    create.add_argument("--space", metavar="space.json", help='a JSON file: setting → {"low", "high", "log"} or '
                                                              '{"choices": [...]}')
    create.add_argument("--param", action="append", metavar="KEY=LOW:HIGH[:log] | KEY=A,B,C",
                        help="a setting to search, named as in --set (repeat for several)")
    create.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting fixed for every trial")
    create.add_argument("--preset", default="balanced", metavar="quick|balanced|best",
                        help="the settings each trial starts from before its own values (default balanced)")
    create.add_argument("--trials", type=int, default=20, help="how many runs in all (default 20)")
    create.add_argument("--parallel", type=int, default=1, help="how many run at once (default 1)")
    create.add_argument("--method", default="tpe", choices=list(METHODS))
    create.add_argument("--pruner", default="median", choices=list(PRUNERS),
                        help="how poor trials are stopped early (default median)")
    create.add_argument("--metric", help="the validation figure to optimise (default: val_accuracy for classes, "
                                         "val_rmse for numbers)")
    create.add_argument("--direction", choices=["minimize", "maximize"], help="default: from the metric")
    create.add_argument("--name")
    create.add_argument("--wait", action="store_true", help="wait until the sweep ends")
    show = command(sweep, "show", cmd_sweep_show, "show a sweep: its trials, the best one, what mattered")
    show.add_argument("sweep_id", type=int, metavar="SWEEP_ID")
    command(sweep, "list", cmd_sweep_list, "list the sweeps, newest first")
    cancel = command(sweep, "cancel", cmd_sweep_cancel,
                     "cancel a sweep's waiting trials (the running ones finish, unless --stop-running)")
    cancel.add_argument("sweep_id", type=int, metavar="SWEEP_ID")
    cancel.add_argument("--stop-running", action="store_true", help="stop the trials training now as well")
