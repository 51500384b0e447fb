"""Scenarios of tests/features/stage_rules.feature (steps in conftest.py)."""

from pytest_bdd import scenarios

scenarios("stage_rules.feature")
