"""Validation: every problem of a workflow, located, with the fix spelled out."""
