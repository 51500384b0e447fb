"""Scenarios of tests/features/four_eyes.feature (steps in conftest.py)."""

from pytest_bdd import scenarios

scenarios("four_eyes.feature")
