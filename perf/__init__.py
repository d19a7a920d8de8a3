"""Benchmarks of actors_wf: `python -m perf` (or `make bench`) prints the tables."""
