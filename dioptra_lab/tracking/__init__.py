"""Tracking: MLflow runs of jobs, bundles, logging helpers for tasks, results queries."""

from dioptra_lab.tracking.logging import (
    current_run_id,
    log_artifact,
    log_figure,
    log_metric,
    log_metrics,
    log_model,
    log_results,
    log_tags,
    log_text,
)

__all__ = [
    "current_run_id",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_results",
    "log_tags",
    "log_text",
]
