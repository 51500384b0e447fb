"""CSV cells a spreadsheet opens as text: a stored `=HYPERLINK(...)` never becomes a formula (issue 21, point 11)."""

from __future__ import annotations

from typing import Any

# What Excel, LibreOffice and Google Sheets read as the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """A text cell starting like a formula gets a leading apostrophe, which spreadsheets show as text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
