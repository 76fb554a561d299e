"""Queries behind the runs explorer: filtered pages of runs, down-sampled curves, comparisons, clean-up.

Every function gives back plain dicts and lists, like db.repo. Callers use the package (`from db import explorer`);
its modules hold one concern each: runs_list (filters, sorting, pages of runs), curves (down-sampled metric
histories; its RAW_LIMIT, BLOCK_POINTS and TAIL_BLOCKS are read there, so set them on db.explorer.curves), one_run
(overfitting, status history, notes and tags, JSON/CSV/files exports), compare (several runs side by side),
cleanup (archiving and deleting runs and data sets); what they share is in common.
"""

from __future__ import annotations

from db.explorer.cleanup import (
    DatasetDependents,
    DeleteOutcome,
    archive_runs,
    dataset_dependents,
    delete_dataset,
    delete_runs,
)
from db.explorer.common import FIRST_KEYS, RESULT_PREFIXES, clean_tags, is_result, metric_order
from db.explorer.compare import (
    and_list,
    best_run,
    compare_document,
    differing_settings,
    flatten,
    leading_runs,
    recent_runs,
    run_labels,
    run_settings,
    runs_for_compare,
    same_result,
)
from db.explorer.curves import POINTS_PER_CURVE, prepare_long_curves, run_history, sampled_history
from db.explorer.one_run import (
    JUDGED_FIGURES,
    OVERFIT_MARGIN,
    keep_best_config,
    metrics_csv,
    overfitting,
    run_document,
    run_files,
    run_seconds,
    status_history,
    update_run_details,
)
from db.explorer.runs_list import LIST_COLUMNS, RunFilters, RunsPage, active_runs, filter_choices, find_runs
from db.repo import get_run, higher_is_better, metric_summaries, summaries_in  # read through db.explorer too

__all__ = ["active_runs", "and_list", "archive_runs", "best_run", "clean_tags", "compare_document",
           "dataset_dependents", "DatasetDependents", "delete_dataset", "delete_runs", "DeleteOutcome",
           "differing_settings", "filter_choices", "find_runs", "FIRST_KEYS", "flatten", "get_run",
           "higher_is_better", "is_result", "JUDGED_FIGURES", "keep_best_config", "leading_runs",
           "LIST_COLUMNS", "metric_order", "metric_summaries", "metrics_csv", "OVERFIT_MARGIN",
           "overfitting", "POINTS_PER_CURVE", "prepare_long_curves", "recent_runs", "RESULT_PREFIXES",
           "run_document", "run_files", "run_history", "run_labels", "run_seconds", "run_settings",
           "RunFilters", "runs_for_compare", "RunsPage", "same_result", "sampled_history", "status_history",
           "summaries_in", "update_run_details"]
