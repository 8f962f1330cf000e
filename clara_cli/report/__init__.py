"""Validation reports: per-case tables, summaries and figures."""
