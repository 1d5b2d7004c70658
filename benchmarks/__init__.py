"""Benchmarks: run as scripts (``.venv/bin/python benchmarks/bench_rules.py``), not as tests."""
