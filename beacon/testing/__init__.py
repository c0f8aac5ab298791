"""Helpers for tests and benchmarks (real-mail corpora fetched from package registries)."""
