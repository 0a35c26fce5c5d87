"""Gavel: a streaming content-moderation policy evaluator."""

__version__ = "0.1.0"
