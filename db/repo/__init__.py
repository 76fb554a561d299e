"""Repositories: every read and write of the database, giving back plain dicts.

Callers use the package (`from db import repo; repo.get_run(...)`); its modules hold one concern each:
datasets (data sets), workers (registering, heartbeats), runs (queueing, reading, listing, progress, finishing,
cancelling, queueing again, stale runs), claims (a worker or torchrun taking a run, runs shared by several
machines), metrics (points, summaries, history, which way is better), events (a run's events and artifacts),
sweeps; what they share is in common.
"""

from __future__ import annotations

from db.repo.claims import (
    claim_next_run,
    claim_run_by_hand,
    gathering_shared_runs,
    join_shared_run,
    open_shared_run,
    set_shared_run_endpoint,
    shared_run_endpoint,
    shared_run_hosts,
)
from db.repo.datasets import create_dataset, dataset_name_taken, get_dataset, list_datasets
from db.repo.events import add_artifact, add_event, list_artifacts, list_events
from db.repo.metrics import (
    delete_metrics_after,
    higher_is_better,
    log_metrics,
    metric_history,
    metric_summaries,
    replace_metrics,
    run_summary,
    summaries_in,
)
from db.repo.runs import (
    cancel_requested,
    create_run,
    finish_run,
    get_run,
    heartbeat_run,
    list_runs,
    mark_stale_runs_interrupted,
    queue_positions,
    request_cancel,
    requeue_run,
    set_run_environment,
    set_run_process,
    update_progress,
)
from db.repo.sweeps import (
    create_sweep,
    finish_sweep,
    get_sweep,
    list_sweeps,
    request_sweep_cancel,
    sweep_names,
    sweep_runs,
)
from db.repo.workers import alive_workers, heartbeat_worker, register_worker, stop_worker

__all__ = ["add_artifact", "add_event", "alive_workers", "cancel_requested", "claim_next_run",
           "claim_run_by_hand", "create_dataset", "create_run", "create_sweep", "dataset_name_taken",
           "delete_metrics_after", "finish_run", "finish_sweep", "gathering_shared_runs", "get_dataset",
           "get_run", "get_sweep", "heartbeat_run", "heartbeat_worker", "higher_is_better",
           "join_shared_run", "list_artifacts", "list_datasets", "list_events", "list_runs", "list_sweeps",
           "log_metrics", "mark_stale_runs_interrupted", "metric_history", "metric_summaries",
           "open_shared_run", "queue_positions", "register_worker", "replace_metrics", "request_cancel",
           "request_sweep_cancel", "requeue_run", "run_summary", "set_run_environment", "set_run_process",
           "set_shared_run_endpoint", "shared_run_endpoint", "shared_run_hosts", "stop_worker",
           "summaries_in", "sweep_names", "sweep_runs", "update_progress"]
