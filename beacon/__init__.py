"""Beacon: self-hosted email triage with memory-safe NLP."""

__version__ = "0.1.0"
