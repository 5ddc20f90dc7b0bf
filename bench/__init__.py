"""Benchmarks and load tests (run from the repository root, e.g. `python -m bench.load`)."""
