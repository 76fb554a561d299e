"""Command line: `explain RUN_ID INPUT... [--json]`, `explain RUN_ID --mistakes`, `explain RUN_ID --importance`."""

from __future__ import annotations

from typing import Any

from engine.cli.common import emit, find_run, table_text
from engine.errors import UserError
from engine.serving import DEFAULT_TOP, MAX_TOP
from engine.words import plain_number


def _explanation_text(results: list[dict[str, Any]]) -> str:
    lines = []
    for result in results:
        head = f"{result.get('input', result.get('user', ''))}: {result.get('prediction', '')}".rstrip(": ")
        lines.append(head)
        lines.append(f"  {result['sentence']}")
        if result.get("pushes"):
            credits = [("+" if p["value"] >= 0 else "-") + plain_number(abs(p["value"]), 4) for p in result["pushes"]]
            rows = [[p["name"], credit, p["direction"]] for p, credit in zip(result["pushes"], credits)]
            lines.append(table_text(rows, ["COLUMN OR WORD", "CREDIT", "DIRECTION"]))
    if results:
        lines.append(results[0]["note"])
    return "\n".join(lines)


def cmd_explain(args) -> None:
    from engine.serving.predict import load_trained

    find_run(args.run_id)
    if args.importance:
        from engine.explain.importance import SHOWN_SCALE, column_importance

        document = column_importance(args.run_id)
        # In the sentence's units, as the page's chart: points of accuracy, or the error in the target's units.
        scale = SHOWN_SCALE[document["metric"]]
        heading = "ACCURACY LOST (POINTS)" if document["metric"] == "accuracy" else "ERROR ADDED"
        emit(args, document, document["sentence"] + "\n" + table_text(
            [[c["name"], plain_number(c["importance"] * scale, 3), f"± {plain_number(c['spread'] * scale, 2)}"]
             for c in document["columns"]], ["COLUMN", heading, "SPREAD"]))
        return
    if args.mistakes:
        from engine.explain.importance import explain_mistakes

        document = explain_mistakes(args.run_id)
        emit(args, document, "\n".join(f"test example {m['index']}: true {m['true']}, said {m['predicted']}. "
                                       f"{m['sentence']}" for m in document["mistakes"]) or "No mistakes.")
        return
    if not args.inputs:
        raise UserError("Give the inputs to explain (files of rows or texts, image files, or user ids), or "
                        "--mistakes, or --importance.")
    from engine.explain.attributions import explain_inputs
    from engine.serving.inputs import inputs_for

    trained = load_trained(args.run_id)  # says plainly when the run has no model
    raw, names = inputs_for(trained.preprocessing).read_files(trained.preprocessing, args.inputs)
    results = explain_inputs(trained, raw, names, top=args.top)
    emit(args, results, _explanation_text(results))


def register(commands, command) -> None:
    """Add explain to the command line's subcommands."""
    explain = command(commands, "explain", cmd_explain,
                      "explain a trained run's answers: what pushed each one, and which columns matter most")
    explain.add_argument("run_id", type=int, metavar="RUN_ID")
    explain.add_argument("inputs", nargs="*", metavar="INPUT",
                         help="files of rows (CSV, Excel, Parquet, JSON) for tables and texts, image files, or user "
                              "ids (ratings)")
    explain.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N",
                         help=f"items to recommend per user (ratings; default {DEFAULT_TOP}, at most {MAX_TOP})")
    explain.add_argument("--mistakes", action="store_true",
                         help="explain the worst mistakes of the run's evaluation instead")
    explain.add_argument("--importance", action="store_true",
                         help="tables: which columns matter most on the test split (permutation importance)")
