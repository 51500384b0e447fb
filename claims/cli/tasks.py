"""`claims tasks`: the collection plan's tasks (issue 18) - list them, assign, take, re-plan."""

from typing import Annotated

import typer

from claims.cli.common import AsUser, JsonOut, emit_json, identity, out, runtime

tasks_app = typer.Typer(help="Collection tasks from the gaps: what to collect, for which actions.")


def _line(t: dict) -> str:  # type: ignore[type-arg]
    who = t["assignee"] or "unassigned"
    due = f", due {t['due']}" if t["due"] else ""
    status = "" if t["status"] == "open" else f" [{t['status']}: {t['close_reason']}]"
    left = f", nearest action {t['closest']} item(s) from ready" if t["status"] == "open" else ""
    return f"#{t['id']} {t['claim']}: {t['need']} - unblocks {', '.join(t['actions'])}{left}{due} ({who}){status}"


@tasks_app.callback(invoke_without_command=True)
def tasks_list(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only the tasks assigned to me.")] = False,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Only the tasks nobody has.")] = False,
    action: Annotated[str | None, typer.Option(help="Only the tasks this policy action needs.")] = None,
    case: Annotated[str | None, typer.Option(help="Only this case's tasks.")] = None,
    status: Annotated[str, typer.Option(help="open, closed, withdrawn or all")] = "open",
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Tasks in work order: most actions unblocked first, then the action nearest to ready, then due date."""
    if ctx.invoked_subcommand is not None:
        return
    from claims.services.tasks import list_tasks

    items = list_tasks(
        runtime(),
        identity(as_user),
        mine=mine,
        unassigned=unassigned,
        action=action,
        case=case,
        status=None if status == "all" else status,
    )
    if as_json:
        emit_json(items)
        return
    if not items:
        out.print("no tasks", markup=False)
    for t in items:
        out.print(_line(t), markup=False)


@tasks_app.command("assign")
def tasks_assign(
    task_id: int,
    to: Annotated[str, typer.Option("--to", help="The person who is to do it.")],
    reassign: Annotated[bool, typer.Option("--reassign", help="Move it from whoever has it.")] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Give a task to a person (managers and analysts); it tells them through the `task.assigned` event."""
    from claims.services.tasks import assign

    task = assign(runtime(), identity(as_user), task_id, to, reassign=reassign)
    if as_json:
        emit_json(task)
    else:
        out.print(f"task #{task['id']} assigned to {task['assignee']}: {task['need']}", markup=False)


@tasks_app.command("take")
def tasks_take(task_id: int, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """ "I'm on it": take an open task nobody has."""
    from claims.services.tasks import take

    task = take(runtime(), identity(as_user), task_id)
    if as_json:
        emit_json(task)
    else:
        out.print(f"task #{task['id']} is yours: {task['need']}", markup=False)


@tasks_app.command("plan")
def tasks_plan(as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Re-plan every task (after a new threshold policy or an edit of actions); the assessment keeps them
    current otherwise."""
    from claims.services.tasks import replan_all

    result = replan_all(runtime(), identity(as_user))
    data = {"opened": result.opened, "updated": result.updated, "closed": result.closed, "withdrawn": result.withdrawn}
    if as_json:
        emit_json(data)
    else:
        out.print(", ".join(f"{v} {k}" for k, v in data.items()), markup=False)
