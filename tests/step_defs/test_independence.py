"""Scenarios of tests/features/independence.feature (steps in conftest.py)."""

from pytest_bdd import scenarios

scenarios("independence.feature")
