"""`claims config show`: every setting, its value and where it came from (environment, .env file, default)."""

import typer

from claims.cli.common import JsonOut, emit_json, out

config_app = typer.Typer(help="Where the settings come from.", no_args_is_help=True)


@config_app.command("show")
def config_show(as_json: JsonOut = False) -> None:
    """Each setting's value and source; secrets masked, the database password hidden."""
    from claims.settings import explain

    settings = explain()
    if as_json:
        emit_json(settings)
        return
    width = max(len(name) for name in settings)
    for name, item in settings.items():
        out.print(f"{name:<{width}}  {item['value']!s:<40}  ({item['source']})", markup=False, highlight=False)
