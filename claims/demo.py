"""The worked example: the EU drones case file and the people who work it in the demo."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CASE = EXAMPLES / "eu-drones-2024.yaml"
DEMO_USERS = {"admin": "admin", "alice": "analyst", "bob": "reviewer", "carol": "reviewer", "mia": "manager"}


def signed_demo_case(folder: Path) -> Path:
    """The shipped example signed with this instance's key (made if missing), written into `folder`.

    Its history holds a confirmed claim; only a file signed by a trusted key may carry one, so
    running the demo vouches for the shipped example with the instance's own key.
    """
    import yaml

    from claims.services.casefile import dump_case
    from claims.services.provenance import init_key, load_private_key, sign_case

    if load_private_key() is None:
        init_key()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_CASE.name
    path.write_text(dump_case(sign_case(yaml.safe_load(DEMO_CASE.read_text(encoding="utf-8")))), encoding="utf-8")
    return path
