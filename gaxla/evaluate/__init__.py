"""Evaluation metrics."""

from gaxla.evaluate.mode_coverage import mode_coverage  # noqa: F401
