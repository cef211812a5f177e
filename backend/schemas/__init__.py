"""Pydantic request and response models (the API contract of SPEC §4)."""
