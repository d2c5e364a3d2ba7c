"""Unified views declared in YAML: their specification, fold, state and functions."""
