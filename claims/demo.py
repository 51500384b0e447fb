"""The worked example: the EU drones case file and the people who work it in the demo."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CASE = EXAMPLES / "eu-drones-2024.yaml"
DEMO_USERS = {"admin": "admin", "alice": "analyst", "bob": "reviewer", "carol": "reviewer", "mia": "manager"}
