"""Trainyard's command line: `python -m engine COMMAND`. With --json a command prints one JSON document.

Each group of commands lives in a module of its own (data, runs, serving, sweeps, explain, team) and registers
its commands here; what they share is in engine.cli.common."""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli.common import shown_url
from engine.cli.data import (
    cmd_datasets_add,
    cmd_datasets_clean,
    cmd_datasets_delete,
    cmd_datasets_list,
    cmd_datasets_sample,
    cmd_datasets_show,
    cmd_init,
    cmd_models,
)
from engine.cli.runs import (
    cmd_calibrate,
    cmd_runs_archive,
    cmd_runs_cancel,
    cmd_runs_compare,
    cmd_runs_delete,
    cmd_runs_list,
    cmd_runs_metrics,
    cmd_runs_show,
    cmd_train,
    cmd_worker,
)
from engine.errors import UserError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m engine", description="Trainyard: train models from the command line.")
    commands = root.add_subparsers(dest="command", required=True)

    def command(subparsers, name, handler, help_text):
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print one JSON document and nothing else")
        return sub

    command(commands, "init", cmd_init, "create or update the database")
    models = command(commands, "models", cmd_models, "list the models, pretrained or not, and each kind's default")
    models.add_argument("--kind", choices=["tabular", "image", "text", "ratings"], help="only the models for this kind")

    datasets = commands.add_parser("datasets", help="add and inspect data sets").add_subparsers(dest="sub", required=True)
    add = command(datasets, "add", cmd_datasets_add, "add a data set from a file")
    add.add_argument("path")
    add.add_argument("--name")
    add.add_argument("--kind", default="auto", choices=["auto", "tabular", "image", "text", "ratings"])
    add.add_argument("--target", help="the column to predict: the label of texts, the rating of ratings "
                                      "(detected when left out)")
    add.add_argument("--task", choices=["classification", "regression"], help="detected when left out")
    add.add_argument("--text-column", dest="text_column", help="texts: the column with the texts")
    add.add_argument("--user-column", dest="user_column", help="ratings: the column naming the user")
    add.add_argument("--item-column", dest="item_column", help="ratings: the column naming the item")
    add.add_argument("--timestamp-column", dest="timestamp_column", help="ratings: the time of each rating")
    add.add_argument("--image-size", dest="image_size", metavar="WxH", help="images: resize to this, e.g. 32x32")
    clean = command(datasets, "clean", cmd_datasets_clean,
                    "fix a problem; the result is a new version linked to the data set, which is kept")
    clean.add_argument("dataset", metavar="NAME_OR_ID")
    clean.add_argument("step", help="the fix, such as drop_duplicates or fill_missing (a name it does not know "
                       "lists them all)")
    clean.add_argument("--column")
    clean.add_argument("--method", choices=["median", "mode", "constant"], help="fill_missing: how to fill")
    clean.add_argument("--value", help="fill_missing --method constant: the value")
    clean.add_argument("--min-count", dest="min_count", type=int, help="drop_rare_classes, drop_rare_users")
    clean.add_argument("--height", type=int, help="resize: pixels")
    clean.add_argument("--width", type=int, help="resize: pixels")
    clean.add_argument("--target", help="set_target: the new column to predict")
    clean.add_argument("--task", choices=["classification", "regression"], help="set_target: the new task")
    clean.add_argument("--name", help="the new version's name (default: the source's name and the fix)")
    sample = command(datasets, "sample", cmd_datasets_sample, "list the samples, or add one")
    sample.add_argument("sample", nargs="?", metavar="SAMPLE")
    command(datasets, "list", cmd_datasets_list, "list data sets")
    show = command(datasets, "show", cmd_datasets_show, "show a data set and its quality report")
    show.add_argument("dataset", metavar="NAME_OR_ID")
    delete = command(datasets, "delete", cmd_datasets_delete,
                     "delete a data set, its files and the runs trained on it (what goes is said first)")
    delete.add_argument("dataset", metavar="NAME_OR_ID")
    delete.add_argument("--yes", action="store_true", help="delete without asking again")

    train = command(commands, "train", cmd_train, "queue a training run")
    train.add_argument("--dataset", required=True, metavar="NAME_OR_ID")
    train.add_argument("--model")
    train.add_argument("--name")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--preset", default="balanced", metavar="quick|balanced|best|auto",
                       help="the settings to start from, fitted to the data set (default balanced); "
                            "the other options change settings on top of it. auto searches models and settings "
                            "within --budget (a sweep)")
    train.add_argument("--budget", metavar="TIME", help="auto: how long to search, e.g. 10m, 90s or 1h")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="any setting, e.g. model.dropout=0.2")
    train.add_argument("--wait", action="store_true", help="wait until the run ends")
    train.add_argument("--estimate", action="store_true",
                       help="print how long the run should take and the memory it needs, and queue nothing")

    runs = commands.add_parser("runs", help="inspect runs").add_subparsers(dest="sub", required=True)
    runs_list = command(runs, "list", cmd_runs_list, "list runs, newest first (archived ones left out)")
    runs_list.add_argument("--limit", type=int, default=100)
    runs_list.add_argument("--search", help="part of a run's name or number, a model or a data set")
    runs_list.add_argument("--model", action="append", help="only this model (repeat for several)")
    runs_list.add_argument("--status", action="append", help="only this status (repeat for several)")
    runs_list.add_argument("--tag", action="append", help="only runs with this tag (repeat for several)")
    runs_list.add_argument("--sort", default="newest", help="newest, oldest, name or best:METRIC")
    runs_list.add_argument("--archived", action="store_true", help="list the archived runs instead")
    for name, handler, help_text in (("show", cmd_runs_show, "show one run with its final metrics"),
                                     ("metrics", cmd_runs_metrics, "print a run's full metric history"),
                                     ("cancel", cmd_runs_cancel, "cancel a queued or running run")):
        sub = command(runs, name, handler, help_text)
        sub.add_argument("run_id", type=int, metavar="RUN_ID")
        if name == "metrics":
            sub.add_argument("--key")
            sub.add_argument("--points", type=int, help="down-sample each curve to about this many points, "
                                                        "keeping the first, last, lowest and highest")
            sub.add_argument("--csv", action="store_true", help="print every point as CSV")
    compare = command(runs, "compare", cmd_runs_compare, "compare runs: results, the best run, settings that differ")
    compare.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    compare.add_argument("--metric", help="the result that decides the best run (default: the first they all have)")
    archive = command(runs, "archive", cmd_runs_archive, "hide runs from the list, keeping everything")
    archive.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    archive.add_argument("--restore", action="store_true", help="bring archived runs back")
    remove = command(runs, "delete", cmd_runs_delete, "delete runs with their curves and files")
    remove.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    remove.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    from engine.cli.serving import register as register_serving

    register_serving(commands, command)
    from engine.cli.sweeps import register as register_sweeps

    register_sweeps(commands, command)
    from engine.cli.explain import register as register_explain

    register_explain(commands, command)
    from engine.cli.team import register as register_team

    register_team(commands, command)

    calibrate = command(commands, "calibrate", cmd_calibrate,
                        "time a few training steps on this machine, for run-time estimates")
    calibrate.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    calibrate.add_argument("--progress", action="store_true", help="print 'progress DONE TOTAL' lines while it runs")

    worker = command(commands, "worker", cmd_worker, "train queued runs on this machine")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--slots", type=int, help="runs at once (default: one per GPU, or 1 on the CPU)")
    worker.add_argument("--no-resume", action="store_true", help="do not resume interrupted runs automatically")
    worker.add_argument("--ensure", action="store_true",
                        help="start a worker in the background unless one is alive, then return")
    return root


def _check_text(args) -> None:
    """Refuse an argument holding a NUL character before it reaches the database (PostgreSQL cannot store one)."""
    for key, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "\x00" in text:
                raise UserError(f"The value given for {key.replace('_', '-')} holds an invisible NUL character (often "
                                "left by copying from another program). Type it again without it.")


def main(argv: list[str] | None = None) -> int:
    from db.access import AccessDenied

    args = parser().parse_args(argv)
    try:
        _check_text(args)
        args.handler(args)
    except (UserError, AccessDenied) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (`| head`) stopped early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # the database not ready or out of reach, a broken file…: say it plainly
        message = _database_trouble(error)
        if message is None:
            raise
        print(f"Error: {message}", file=sys.stderr)
        return 2
    return 0


def _database_trouble(error: Exception) -> str | None:
    """Give back a plain message when error says the database is not ready or cannot be reached, else None."""
    from sqlalchemy.exc import (
        ArgumentError,
        InterfaceError,
        NoSuchModuleError,
        OperationalError,
    )

    from db.session import DatabaseNotReady, database_url

    if isinstance(error, DatabaseNotReady):
        return str(error)
    if isinstance(error, (ArgumentError, NoSuchModuleError)):
        return (f"DATABASE_URL ({shown_url(database_url())}) is not a database address Trainyard can use. Write it "
                "like postgresql+psycopg://user:password@host/trainyard, or unset it to use the SQLite file in "
                "TRAINYARD_HOME.")
    if isinstance(error, (OperationalError, InterfaceError)):
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return (f"Could not reach the database at {shown_url(database_url())}: {reason}. Check that it is running "
                "and that DATABASE_URL (or TRAINYARD_HOME) points at it, then try again.")
    return None
