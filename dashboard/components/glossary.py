"""Plain explanations of the terms a page has to keep (RMSE, F1, epoch …), shown as a tooltip beside them."""

from __future__ import annotations

# Checked in this order: the first term a label contains explains it.
TERMS = (
    ("Classical reference", "A simple classical model (such as gradient boosting) fitted on the same training rows "
                            "and scored on the same test rows: the yardstick the model should beat."),
    ("RMSE", "Root mean squared error: how far the answers are from the truth, on average, in the target's own "
             "units. Large misses count extra. Lower is better."),
    ("MAE", "Mean absolute error: how far the answers are from the truth, on average, in the target's own units. "
            "Lower is better."),
    ("Median error", "Half of the answers are closer to the truth than this, in the target's own units."),
    ("R²", "How much of the target's ups and downs the model explains: 1 is all of it, 0 no better than always "
           "answering the average."),
    ("F1", "The balance of being right when it names a class and finding that class's examples, averaged over "
           "the classes so that small classes count as much as large ones (macro). 1 is perfect."),
    ("Precision at", "Of the items the model puts in its top list for a user, the share that user rated highly."),
    ("Recall at", "Of the items a user rated highly, the share the model puts in its top list."),
    ("Precision", "When the model names a class, how often it is right; averaged over the classes (macro)."),
    ("Recall", "Of the examples of a class, how many the model finds; averaged over the classes (macro)."),
    ("ROC area", "How well the model ranks the examples of a class above the others: 1 is perfect, 0.5 is chance."),
    ("Accuracy", "The share of examples the model answers right."),
    ("Epoch", "One pass of training over every training example."),
    ("Examples per second", "How fast training went through the examples."),
)


def explain(label: str) -> str | None:
    """Give back the plain explanation of the first term in label, or None."""
    lowered = label.lower()
    return next((text for term, text in TERMS if term.lower() in lowered), None)
