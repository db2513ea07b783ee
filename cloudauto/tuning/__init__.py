"""Scheduling, apart from execution: samplers and the early-termination engine."""
