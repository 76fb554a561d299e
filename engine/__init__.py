"""Trainyard's engine: data sets, models, training, jobs and serving."""

__version__ = "0.1.0"
