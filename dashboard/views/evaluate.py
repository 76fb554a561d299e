"""Evaluate: how good a finished run's model is on data it never saw, in plain words and figures, and its
download. Everything here is also printed by `python -m engine evaluate RUN_ID --json`."""

import base64
import functools

import pandas as pd
import streamlit as st

from dashboard.components import eval_figures as figures
from dashboard.components import explorer as ex
from dashboard.components.explanations import show_column_importance, show_mistake_explanations
from dashboard.components.glossary import explain
from dashboard.components.progress import run_with_progress
from dashboard.components.text import markdown_safe
from dashboard.components.trained import choose_finished_run, read_json, run_engine
from db import explorer
from engine.serving.compress import read_compression
from engine.serving.measure import comparison_rows, method_text
from engine.serving.runtime import INT8_FILE, bundle_name, export_folder, run_folder
from engine.training.crossval import CROSSVAL_FILE
from engine.training.reference import reference_sentence
from engine.training.report import EVALUATION_FILE
from engine.words import plain_number

run = choose_finished_run("Evaluate", "No finished runs yet. Train a model under **New run**; when it finishes, "
                                      "its evaluation appears here.")
if run is None:
    st.stop()
run_id = run["id"]
ex.show_overfitting(explorer.get_run(run_id), key="evaluate-keep-best")

report = read_json(run_folder(run_id) / EVALUATION_FILE)
if report is None:
    st.info("This run has no evaluation yet (it was trained before Trainyard made them). It takes a few seconds.")
    if st.button("Evaluate this run", key="make-evaluation", icon=":material/fact_check:"):
        ok, answer = run_with_progress("evaluate", "Scoring the model on its test split",
                                       lambda: run_engine("evaluate", str(run_id)))
        if ok:
            st.rerun()
        st.error(markdown_safe(answer))
    st.stop()

task = report["task"]
reference = report.get("reference")
st.subheader("In plain words")
st.markdown("\n".join(f"- {markdown_safe(sentence)}"
                       for sentence in report["summary"] + [reference_sentence(reference, report)]))

percent, three, figure = "{:.1%}".format, "{:.3f}".format, functools.partial(plain_number, digits=4)
HEADLINES = {
    "classification": [("accuracy", "Accuracy", percent), ("f1_macro", "F1 (macro)", three),
                       ("precision_macro", "Precision (macro)", three), ("recall_macro", "Recall (macro)", three),
                       ("roc_auc", "ROC area", three)],
    "regression": [("mae", "Mean error (MAE)", figure), ("rmse", "RMSE", figure), ("r2", "R²", three),
                   ("median_absolute_error", "Median error", figure)],
    "rating": [("rmse", "RMSE", three), ("mae", "Mean error (MAE)", three),
               (f"precision_at_{report.get('k', 10)}", f"Precision at {report.get('k', 10)}", percent),
               (f"recall_at_{report.get('k', 10)}", f"Recall at {report.get('k', 10)}", percent)],
}
shown = [(label, fmt(report["metrics"][key]), None) for key, label, fmt in HEADLINES[task]
         if report["metrics"].get(key) is not None]
if reference and "skipped" not in reference:
    fmt = next((fmt for key, _, fmt in HEADLINES[task] if key == reference["metric"]), figure)
    model = reference["model"]
    shown.append(("Classical reference", fmt(reference["value"]), f"{model[:1].upper()}{model[1:]}. "
                  + explain("Classical reference")))
for column, (label, value, explained) in zip(st.columns(len(shown)), shown):
    column.metric(label, value, help=explained or explain(label))
st.caption(f"On {report['n_test']:,} test examples the model never saw during training.")


def worst_mistakes_table(mistakes: list[dict]) -> pd.DataFrame:
    rows = []
    for mistake in mistakes:
        row = {"True": mistake["true"], "Predicted": mistake["predicted"]}
        if "confidence" in mistake:
            row["Sure"] = mistake["confidence"]
        else:
            row["Error"] = mistake["error"]
        given = mistake.get("input")
        if isinstance(given, dict):
            row |= {str(k): v for k, v in given.items()}
        elif given is not None:
            row["Text"] = str(given)
        rows.append(row)
    return pd.DataFrame(rows)


def show_mistakes(mistakes: list[dict]) -> None:
    if not mistakes:
        st.success("No mistakes on the test examples.")
        return
    if report["kind"] == "image":
        st.caption("The images it got wrong while being most sure.")
        for column, mistake in zip(st.columns(6) * 2, mistakes):
            picture = base64.b64decode(mistake["input"].split(",", 1)[1]) if mistake.get("input") else None
            if picture:
                column.image(picture, width=96)
            column.caption(f"true {markdown_safe(mistake['true'])} · said {markdown_safe(mistake['predicted'])} "
                           f"({mistake['confidence']:.0%})")
        return
    st.caption("The answers furthest from the truth: " + ("wrong labels given with the most confidence."
                                                          if task == "classification" else "the largest errors."))
    st.dataframe(worst_mistakes_table(mistakes), hide_index=True, key="mistakes",
                 column_config={"Sure": st.column_config.NumberColumn(format="percent")})


crossval = read_json(run_folder(run_id) / CROSSVAL_FILE)
if task == "classification":
    names = ["Confusion matrix", "Per label", "ROC curves", "Precision–recall", "Worst mistakes"]
else:
    names = ["Predicted against true", "Errors", "Worst mistakes"]
tabs = dict(zip(names + (["Cross-validation"] if crossval else []),
                st.tabs(names + (["Cross-validation"] if crossval else []))))

if task == "classification":
    with tabs["Confusion matrix"]:
        share = st.toggle("Show shares of each true label", key="matrix-share",
                          help="Each row then adds up to 100%, so rare labels read as clearly as common ones.")
        matrix = report["confusion_matrix"]
        st.plotly_chart(figures.confusion_matrix_figure(matrix["counts"], matrix["labels"], share), theme=None,
                        key="confusion-matrix")
    with tabs["Per label"]:
        table = pd.DataFrame(report["per_class"]).rename(columns={
            "label": "Label", "precision": "Right when it says so", "recall": "Found", "f1": "F1",
            "support": "Test examples", "predicted": "Times predicted"})
        st.dataframe(table, hide_index=True, key="per-class", column_config={
            "Right when it says so": st.column_config.NumberColumn(format="percent", help="precision"),
            "Found": st.column_config.NumberColumn(format="percent", help="recall"),
            "F1": st.column_config.NumberColumn(format="%.3f")})
        st.plotly_chart(figures.per_class_figure(report["per_class"][:30]), theme=None, key="per-class-chart")
    with tabs["ROC curves"]:
        if report["roc"]:
            st.caption("Each curve shows how many of a label the model catches as it flags more examples; the "
                       "closer to the top left, the better." + (" One curve per label against all the others."
                                                                 if len(report["classes"]) > 2 else ""))
            st.plotly_chart(figures.roc_figure(report["roc"]), theme=None, key="roc")
        else:
            st.info("The test split holds a single label, so there is no curve to draw.")
    with tabs["Precision–recall"]:
        if report["pr"]:
            st.plotly_chart(figures.precision_recall_figure(report["pr"]), theme=None, key="pr")
        else:
            st.info("The test split holds a single label, so there is no curve to draw.")
else:
    target = report.get("target", "rating")
    with tabs["Predicted against true"]:
        st.plotly_chart(figures.predicted_against_true_figure(report["scatter"], target), theme=None, key="scatter")
    with tabs["Errors"]:
        st.plotly_chart(figures.error_histogram_figure(report["error_histogram"]), theme=None, key="errors")
with tabs["Worst mistakes"]:
    show_mistakes(report["worst_mistakes"])
    if report["worst_mistakes"] and (run_folder(run_id) / "model.pt").exists():
        show_mistake_explanations(run_id, report)
if report["kind"] == "tabular" and (run_folder(run_id) / "model.pt").exists():
    st.subheader("Which columns matter most")
    show_column_importance(run_id)

if crossval:
    with tabs["Cross-validation"]:
        st.markdown("\n".join(f"- {markdown_safe(s)}" for s in crossval["summary"]))
        folds = pd.DataFrame(crossval["per_fold"])
        st.dataframe(folds, hide_index=True, key="folds")
        headline = next((k for k in ("accuracy", "f1_macro", "rmse", "mae") if k in crossval["mean"]), None)
        if headline:
            st.plotly_chart(figures.folds_figure(crossval["per_fold"], headline, crossval["mean"][headline],
                                                 percent=headline in ("accuracy", "f1_macro")),
                            theme=None, key="folds-chart")

st.subheader("Take the model with you")
st.caption("A ZIP with the model for ONNX Runtime and for PyTorch, its preprocessing, the label names and a README "
           "with working examples. Both files are checked against the trained model when they are made. To let "
           "other programs ask it over the network instead, use **Serving**.")
bundle, model = export_folder(run_id) / bundle_name(run_id), run_folder(run_id) / "model.pt"
if not model.exists():
    st.warning("The model file of this run is missing, so there is nothing to download.")
elif bundle.exists() and bundle.stat().st_mtime >= model.stat().st_mtime:
    st.download_button("Download the model (ZIP)", bundle.read_bytes(), file_name=bundle.name,
                       mime="application/zip", key="download-bundle", icon=":material/download:")
elif st.button("Prepare the download", key="make-bundle", icon=":material/package_2:"):
    ok, answer = run_with_progress("export", "Exporting and checking the model",
                                   lambda: run_engine("export", str(run_id), "--format", "bundle", acting=True))
    if ok:
        st.rerun()
    st.error(markdown_safe(answer))

st.markdown("**A smaller int8 version**")
st.caption("The same model with its weights stored in 8 bits instead of 32: smaller, often faster on a CPU, sometimes "
           "a little less accurate. Trainyard measures it against the original on this machine and on the test "
           "examples, so you can choose.")
int8 = read_compression(run_id, any_pruning=True) if model.exists() else None
int8_bundle = export_folder(run_id) / bundle_name(run_id, quantized=True)
if int8 is not None:
    st.dataframe(pd.DataFrame(comparison_rows(int8), columns=["", "Original", "int8", "Change"]), hide_index=True,
                 key="int8-table")
    st.caption(f"How it was made: {method_text(int8)}. Times are from ONNX Runtime on one CPU thread of this "
               "machine.")
    if int8.get("warning"):
        st.warning(f"{int8['verdict']}. {int8['warning']}")
    else:
        st.success(f"{int8['verdict']}.")
if model.exists() and int8 is not None and int8_bundle.exists() and (
        int8_bundle.stat().st_mtime >= (export_folder(run_id) / INT8_FILE).stat().st_mtime):
    st.download_button("Download the int8 model (ZIP)", int8_bundle.read_bytes(), file_name=int8_bundle.name,
                       mime="application/zip", key="download-int8", icon=":material/download:")
elif model.exists() and st.button("Make a smaller int8 version" if int8 is None else "Prepare the int8 download",
                                  key="make-int8", icon=":material/compress:"):
    ok, answer = run_with_progress("compress", "Making the int8 version and measuring it",
                                   lambda: run_engine("export", str(run_id), "--format", "bundle", "--quantize",
                                                      "int8", acting=True))
    if ok:
        st.rerun()
    st.error(markdown_safe(answer))
