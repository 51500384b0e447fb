"""The `claims` command line: thin typer wrappers over the services, one module per group of commands.

Exit codes: 0 success; 1 a rule or input problem; 2 usage; 3 not found; 4 permission
denied; 5 a concurrent change won (mapped once, in `claims.cli.common.ReportedErrors`).

Startup (issue 11: `--help` and the reading commands answer at human speed): the command modules
import only typer at module level, and they do not use `from __future__ import annotations`. typer
reads every command's signature several times while it builds the app (`inspect.signature(...,
eval_str=True)` and `get_type_hints`), and string annotations are compiled and evaluated each
time: 60 ms per process, against 20 ms with annotations evaluated once at import. Annotations
naming a use-case type are quoted, so importing a command module loads no service.
"""

from __future__ import annotations

import typer

from claims.cli import authoring, brief, cases, notify, provenance, read, run, signin, similar, transitions
from claims.cli.common import ReportedErrors
from claims.cli.config import config_app
from claims.cli.db import db_app
from claims.cli.evidence import evidence_app
from claims.cli.read import audit_app
from claims.cli.reports import report_app
from claims.cli.review import review_app
from claims.cli.tasks import tasks_app
from claims.cli.users import user_app

app = typer.Typer(
    cls=ReportedErrors,
    help="Claim verification: graded evidence, threshold policy, four-eyes sign-off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(evidence_app, name="evidence")
app.add_typer(review_app, name="review")
app.add_typer(tasks_app, name="tasks")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
for module in (signin, cases, transitions, read, run, brief, provenance, similar, authoring, notify):
    module.register(app)


def main() -> None:
    """The `claims` process: Prefect imported lean (see `flows.lean_prefect_import`), and a fast exit.

    The garbage collector starts off: the reading commands answer without it, the others turn it
    back on before they run (`claims.cli.common.BOUNDED` says why). At exit Python's last garbage
    collection walks every object Prefect and pydantic made (a second or two on a busy machine,
    after the work is done); frozen objects are skipped. Files and connections are closed by then:
    the commands close what they open.
    """
    import gc

    from flows import lean_prefect_import

    lean_prefect_import()
    gc.disable()
    try:
        app()
    finally:
        gc.freeze()


__all__ = ["app", "main"]
