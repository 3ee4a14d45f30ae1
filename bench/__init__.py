"""Benchmarks: each module prints its figures beside its targets and a baseline; none asserts."""
