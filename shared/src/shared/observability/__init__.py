"""Logs, metrics and stream status: what an operator sees at 3 a.m."""
