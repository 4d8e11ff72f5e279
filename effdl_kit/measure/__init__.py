"""Timing: module inference latency and op microbenchmarks on CPU/GPU."""
