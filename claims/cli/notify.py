"""`claims note`, `claims subscribe`/`unsubscribe`/`subscriptions`, `claims channel`, `claims inbox`, `claims notify`.

Notes on claims, evidence and reviews; what a person wants to be told and where; the inbox; and the
notifier and its deliveries (issue 18). Thin: each command calls one use case.
"""

from typing import Annotated

import typer

from claims.cli.common import AsUser, CaveatOpt, JsonOut, MarkingOpt, emit_json, identity, marking_option, out, runtime

note_app = typer.Typer(help="Notes on a claim, an evidence item or a review (Markdown; never deleted).")
channel_app = typer.Typer(help="Where you are told besides the inbox: named Apprise URLs from settings.")
notify_app = typer.Typer(help="The notifier: read the event log, send deliveries, the daily digest; admins: failures.")
inbox_app = typer.Typer(help="Your notifications: `claims inbox` lists them, `claims inbox read` marks them read.")

OnOpt = Annotated[str, typer.Argument(help="What the note is on: claim:KEY, evidence:ID or review:ID.")]


@note_app.command("add")
def note_add(
    on: OnOpt,
    text: Annotated[str, typer.Argument(help="The note, in Markdown (no HTML).")],
    reply_to: Annotated[int | None, typer.Option(help="Reply to this note (on the same target).")] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Add a note (or a reply) to a claim, an evidence item or a review (marked --marking, default its case's)."""
    from claims.services.notes import add_note, parse_target

    rt = runtime()
    marking = marking_option(rt, marking)
    kind, ref = parse_target(on)
    note = add_note(rt, identity(as_user), kind, ref, text, reply_to=reply_to, marking=marking, caveat=caveat)
    if as_json:
        emit_json(note.json())
    else:
        out.print(f"note #{note.id} added on {note.target}", markup=False)


@note_app.command("list")
def note_list(
    on: OnOpt,
    items: Annotated[
        bool, typer.Option("--items", help="On a claim: also the notes on its evidence and reviews.")
    ] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """The notes on a target, threaded (replies under their note); withdrawn ones say so."""
    from claims.services.notes import list_notes, parse_target, threads

    kind, ref = parse_target(on)
    notes = list_notes(runtime(), identity(as_user), kind, ref, with_items=items)
    if as_json:
        emit_json([n.json() for n in notes])
        return
    if not notes:
        out.print(f"no notes on {kind}:{ref}", markup=False)
    for n, depth in threads(notes):
        pad = "  " * depth
        head = f"{pad}#{n.id} {n.author} {n.created_at:%Y-%m-%d %H:%M} on {n.target}"
        if n.withdrawn:
            out.print(f"{head} [withdrawn by {n.withdrawn['by']}: {n.withdrawn['reason']}]", markup=False)
        else:
            out.print(head, markup=False)
        for line in n.text.splitlines():
            out.print(f"{pad}  {line}", markup=False, highlight=False)


@note_app.command("withdraw")
def note_withdraw(
    note_id: Annotated[int, typer.Argument(help="The note's number.")],
    reason: Annotated[str, typer.Option(help="Why it is withdrawn (kept on record).")],
    as_user: AsUser = None,
) -> None:
    """Withdraw a note: it stays on record, shown as withdrawn with the reason."""
    from claims.services.notes import withdraw_note

    note = withdraw_note(runtime(), identity(as_user), note_id, reason)
    out.print(f"note #{note.id} on {note.target} withdrawn", markup=False)


def subscribe_cmd(
    kind: Annotated[str, typer.Argument(help="readiness, signoff, assigned, at-risk or overdue.")],
    action: Annotated[str | None, typer.Option(help="Only this policy action (readiness).")] = None,
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Be told when something changes: managers follow actions, analysts cases, reviewers sign-offs."""
    from claims.services.notify import subscribe

    sub = subscribe(runtime(), identity(as_user), kind, action=action, case=case)
    if as_json:
        emit_json(sub.json())
    else:
        out.print(f"subscription #{sub.id}: {sub.person} is told of {sub.kind} ({sub.scope})", markup=False)


def unsubscribe_cmd(
    subscription_id: Annotated[int, typer.Argument(help="From `claims subscriptions`.")], as_user: AsUser = None
) -> None:
    """Stop a subscription."""
    from claims.services.notify import unsubscribe

    sub = unsubscribe(runtime(), identity(as_user), subscription_id)
    out.print(f"subscription #{sub.id} ({sub.kind} {sub.scope}) ended", markup=False)


def subscriptions_cmd(as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Your subscriptions."""
    from claims.services.notify import subscriptions

    subs = subscriptions(runtime(), identity(as_user))
    if as_json:
        emit_json([s.json() for s in subs])
        return
    if not subs:
        out.print("no subscriptions", markup=False)
    for s in subs:
        out.print(f"#{s.id} {s.kind} {s.scope}", markup=False)


@channel_app.command("add")
def channel_add(
    name: Annotated[str, typer.Argument(help="Your name for it, e.g. work-mail.")],
    secret: Annotated[str, typer.Option(help="The name of its Apprise URL in CLAIMS_NOTIFY_SECRETS.")],
    digest: Annotated[bool, typer.Option("--digest", help="Only the daily digest goes here.")] = False,
    as_user: AsUser = None,
) -> None:
    """Add a channel (e-mail, Matrix, Slack, Teams, a webhook) by the name of its URL in settings."""
    from claims.services.notify import add_channel

    ch = add_channel(runtime(), identity(as_user), name, secret, digest=digest)
    out.print(
        f"channel {ch.name} ({'daily digest' if ch.digest else 'each notice'}) uses secret {ch.secret}", markup=False
    )


@channel_app.command("list")
def channel_list(as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Your channels (their secret names; the URLs stay in settings)."""
    from claims.services.notify import channels

    found = channels(runtime(), identity(as_user))
    if as_json:
        emit_json([c.json() for c in found])
        return
    for c in found:
        out.print(f"{c.name}: secret {c.secret}{' (digest)' if c.digest else ''}", markup=False)


@channel_app.command("remove")
def channel_remove(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Remove a channel; its pending deliveries are dropped."""
    from claims.services.notify import remove_channel

    ch = remove_channel(runtime(), identity(as_user), name)
    out.print(f"channel {ch.name} removed", markup=False)


@inbox_app.callback(invoke_without_command=True)
def inbox_list(
    ctx: typer.Context,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread notices.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Your notices, newest first, with the unread count."""
    if ctx.invoked_subcommand is not None:
        return
    from claims.services.notify import inbox

    box = inbox(runtime(), identity(as_user), unread_only=unread, limit=limit)
    if as_json:
        emit_json({"unread": box.unread, "notifications": box.items})
        return
    out.print(f"{box.unread} unread", markup=False)
    for n in box.items:
        mark = " " if n["read"] else "*"
        out.print(f"{mark} #{n['id']} {n['at'][:16]} [{n['kind']}] {n['title']}", markup=False)
        if n["body"]:
            out.print(f"    {n['body']}", markup=False, highlight=False)


@inbox_app.command("read")
def inbox_read(
    ids: Annotated[list[int] | None, typer.Argument(help="Notice numbers; none: every unread one.")] = None,
    as_user: AsUser = None,
) -> None:
    """Mark notices read."""
    from claims.services.notify import mark_read

    n = mark_read(runtime(), identity(as_user), ids or None)
    out.print(f"{n} marked read", markup=False)


@notify_app.command("run")
def notify_run(as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Read the event log to its head, write the notices it implies, then send the due deliveries."""
    from claims.services.identity import check_permission
    from claims.services.notify import catch_up, deliver

    rt = runtime()
    check_permission(rt, identity(as_user), "assess")
    run = catch_up(rt)
    sent = deliver(rt)
    result = {
        "events": run.events,
        "notifications": run.notifications,
        "kinds": run.kinds,
        "deliveries_queued": run.deliveries,
        "sent": sent.sent,
        "failed": sent.failed,
        "dead": sent.dead,
        "cursor": run.cursor,
    }
    if as_json:
        emit_json(result)
    else:
        out.print(
            f"{run.events} events read, {run.notifications} notices, {sent.sent} sent, {sent.failed} failed,"
            f" {sent.dead} given up",
            markup=False,
        )


@notify_app.command("digest")
def notify_digest(as_user: AsUser = None) -> None:
    """Write today's digest for everyone with a digest channel (once a day), and send it."""
    from claims.services.identity import check_permission
    from claims.services.notify import deliver, send_digests

    rt = runtime()
    check_permission(rt, identity(as_user), "assess")
    made = send_digests(rt)
    sent = deliver(rt)
    out.print(f"{made} digests, {sent.sent} sent, {sent.failed} failed", markup=False)


@notify_app.command("deliveries")
def notify_deliveries(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, failed, dead or dropped.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Admins: deliveries with their attempts and last error (failed and dead ones need a look)."""
    from claims.services.notify import delivery_rows

    rows = delivery_rows(runtime(), identity(as_user), status=status)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        why = f" - {r['last_error']}" if r["last_error"] else ""
        out.print(
            f"#{r['id']} {r['status']:<7} {r['person']}/{r['channel']} tries {r['attempts']}: {r['title']}{why}",
            markup=False,
        )


@notify_app.command("retry")
def notify_retry(delivery_id: Annotated[int, typer.Argument()], as_user: AsUser = None) -> None:
    """Admins: put a failed or dead delivery back in the queue, due now."""
    from claims.services.notify import retry_delivery

    retry_delivery(runtime(), identity(as_user), delivery_id)
    out.print(f"delivery #{delivery_id} queued again", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(note_app, name="note")
    app.add_typer(channel_app, name="channel")
    app.add_typer(inbox_app, name="inbox")
    app.add_typer(notify_app, name="notify")
    app.command("subscribe")(subscribe_cmd)
    app.command("unsubscribe")(unsubscribe_cmd)
    app.command("subscriptions")(subscriptions_cmd)
