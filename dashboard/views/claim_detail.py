"""Claim detail: statement, stage timeline, evidence (retracted struck through), lineage, assessment.

Analysts and reviewers act here: add evidence, retract it with a reason, request confirmation or
refutation, reopen (reviewers). A control is offered only to a role that may use it, and the
service still decides (role, four eyes, criteria, version) and its refusal is shown as is.
"""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from claims import services
from claims.domain.markings import further_lines
from claims.domain.stages import Stage
from dashboard import data, ui
from dashboard.notes import notes_section

d = data.db()
state = st.session_state
search = (state.get("detail_search") or "").strip() or None
keys = data.claim_keys(d, ui.case(), search)
wanted = st.query_params.get("claim")
if wanted and wanted not in keys and not search:
    keys = [wanted, *keys]  # a link from another case's page (or beyond the picker's first PICK) still opens

st.title("Claim detail")
if search or len(keys) >= data.PICK:  # a long list: the picker shows the first PICK, a search finds the rest
    st.text_input("Find a claim", key="detail_search", placeholder="part of its key or statement")
if not keys:
    st.info("No claim matches." if search else "No claims yet.")
    st.stop()

# A link (?claim=KEY) picks the claim when it is new, or when the picker was not on screen last run;
# otherwise the picker wins and the address follows it, so the page can be bookmarked.
if wanted and (wanted != state.get("detail_from_link") or "detail_claim" not in state):
    state["detail_claim"] = wanted
    state["detail_from_link"] = wanted
elif state.get("detail_claim") not in keys:
    state.pop("detail_claim", None)
key = st.selectbox("Claim", keys, key="detail_claim")
if key != wanted:
    st.query_params["claim"] = key
    state["detail_from_link"] = key

try:
    detail = data.claim_detail(d, key)
except Exception as exc:
    if not ui.is_refusal(exc):
        raise
    ui.refusal(exc)
    st.stop()

head = st.container(horizontal=True, vertical_alignment="center")
with head:
    st.subheader(detail["key"])
    ui.stage_badge(detail["stage"])
    if detail["at_risk"]:
        st.badge("at risk", color="red", icon=":material/warning:")
    st.badge(f"case {detail['case']}", color="gray")
    st.badge(f"policy {detail['policy_version']}", color="gray")
st.text(detail["statement"])
if detail.get("withdrawn"):
    w = detail["withdrawn"]
    st.warning(ui.esc(f"Withdrawn by {w['by']} ({ui.when(w['at'])}): {w['reason']}"), icon=":material/block:")

flash = st.session_state.pop("detail_flash", None)
if flash:
    st.success(ui.esc(flash), icon=":material/task_alt:")

step = detail["next_step"]
if step["kind"] == "awaiting_review":
    st.info(f"Awaiting sign-off to {step['to']}: {ui.esc(step['reason'])}", icon=":material/hourglass_top:")
elif step["kind"] == "request_review":
    st.info(f"The criteria for {step['to']} hold; the next assessment run asks for a review.", icon=":material/flag:")
elif step["kind"] == "demote":
    st.warning(
        f"{ui.esc(step['reason'])}. The next assessment run moves it back to {step['to']}.", icon=":material/warning:"
    )
elif step["kind"] == "at_risk":
    st.warning(ui.esc(step["reason"]), icon=":material/warning:")
if data.claim_gates(d, detail["case"]).get(key) and (roots := data.rests_on(d, key)):  # issue 18
    st.warning(
        f"Rests on one line: losing {ui.esc(' or '.join(roots))} drops it below {detail['stage']}",
        icon=":material/warning:",
    )

if judgement := detail.get("likelihood"):  # ICD 203: the term and the confidence word in separate sentences
    st.markdown(f"**{ui.esc(judgement['sentence'])}**")
    st.caption(ui.esc(judgement["confidence"]["sentence"]))

st.markdown("#### Stage history")
times = {
    stage: (pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t))
    for stage, t in detail["stage_times"].items()
    if t
}
ending = "refuted" if detail["stage"] == "refuted" or ("refuted" in times and "confirmed" not in times) else "confirmed"
path = ["reported", "corroborated", ending]
steps, previous = [], None
for i, stage in enumerate(path):
    at = times.get(stage)
    note = ""
    if at is not None:
        note = at.strftime("%Y-%m-%d %H:%M")
        if previous is not None:
            note += f" (+{max(0, (at - previous).days)} d)"
        previous = at
    steps.append(
        {
            "i": i,
            "stage": stage,
            "reached": at is not None,
            "when": note or "not reached",
            "current": stage == detail["stage"],
        }
    )
frame = pd.DataFrame(steps)
scale = alt.Scale(domain=list(ui.STAGES), range=[ui.STAGE_COLOURS[s] for s in ui.STAGES])
base = alt.Chart(frame).encode(x=alt.X("i:O", axis=None, scale=alt.Scale(paddingOuter=0.3)), y=alt.value(40))
line = base.mark_line(color="#c8ced6", strokeWidth=3)
dots = base.mark_circle(opacity=1).encode(
    color=alt.condition("datum.reached", alt.Color("stage:N", scale=scale, legend=None), alt.value("#e6e9ed")),
    size=alt.condition("datum.current", alt.value(900), alt.value(420)),
    tooltip=["stage", "when"],
)
names = base.mark_text(dy=-30, fontSize=13, fontWeight="bold", color=ui.NEUTRAL_TEXT).encode(text="stage:N")
dates = base.mark_text(dy=32, fontSize=11, color="#5f6b7a").encode(text="when:N")
st.altair_chart((line + dots + names + dates).properties(height=110), width="stretch")
st.caption("When the claim last entered each stage; every change is in the audit history below.")

st.markdown("#### Source lineage")
sources = data.lineage(d, detail["case"])
if detail["evidence"]:
    st.graphviz_chart(ui.lineage_dot(detail["key"], detail["evidence"], sources), width="content")
    st.caption(
        "Each dashed box is one independent line (a lineage root); a source that repeats another "
        "adds no line. Green supports, red contradicts, dotted grey is retracted."
    )
else:
    st.caption("No evidence yet.")

st.markdown("#### Evidence")
if detail["evidence"]:
    ev = pd.DataFrame(
        [
            {
                "source": e["source"],
                "grade": e["grade"],
                "stance": e["stance"],
                "lineage root": e["independent_root"],
                "summary": e["summary"],
                "observed": e["observed_at"] or "",
                "added by": e["added_by"],
                "status": (f"retracted by {e['retracted_by']}: {e['retraction_reason']}" if e["retracted"] else "live"),
            }
            for e in detail["evidence"]
        ]
    )
    retracted = [i for i, e in enumerate(detail["evidence"]) if e["retracted"]]
    struck = ["source", "grade", "stance", "lineage root", "summary", "observed"]

    def strike(value: object) -> str:
        return "".join(ch + "\u0336" for ch in str(value))  # combining long stroke: struck-through text

    styler = ev.style
    if retracted:
        styler = styler.format(strike, subset=pd.IndexSlice[retracted, struck]).apply(
            lambda row: ["color: #9e9e9e" if row.name in retracted else "" for _ in row], axis=1
        )
    st.dataframe(
        styler,
        hide_index=True,
        width="stretch",
        column_config={"summary": st.column_config.TextColumn("summary", width="large")},
    )
    st.caption("Retracted items stay on record, struck through and greyed; they never count towards a stage.")
else:
    st.caption("No evidence yet.")
if detail.get("further_lines"):  # need to know (issue 20): counted, never named
    st.info(further_lines(detail["further_lines"]).capitalize() + ".", icon=":material/lock:")
ui.grade_legend()

st.markdown("#### Assessment")
for stage, sa in detail["assessment"].items():
    with st.container(border=True):
        row = st.container(horizontal=True, vertical_alignment="center")
        with row:
            st.markdown(f"**To {stage}**")
            if sa["met"]:
                st.badge("met", color="green", icon=":material/check:")
            elif sa["evidence_met"]:
                st.badge("evidence met, sign-off missing", color="orange")
            else:
                st.badge("not met", color="red", icon=":material/close:")
        ui.criteria_table(sa["criteria"])
        if sa["gaps"]:
            st.text("\n".join(f"• {gap}" for gap in sa["gaps"]))

with st.expander("Audit history"):
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": ui.when(h["at"]),
                    "who": h["actor"],
                    "what": ui.event_label(h["kind"]),
                    "from": h["from"] or "",
                    "to": h["to"] or "",
                    "why": h["rationale"] or "",
                    "policy": h["policy_version"] or "",
                }
                for h in detail["history"]
            ]
        ),
        hide_index=True,
        width="stretch",
    )


# --- acting on the claim -----------------------------------------------------------------------

actor = ui.acting_user()
who = ui.acting()  # the proven identity, for the services
role = data.role_of(d, actor)

st.markdown("#### Similar claims")  # known claims that say the same thing (link it) or something related
similar = data.similar(d, who, detail["statement"], key)
for item in similar:
    ui.claim_link(item["claim"], f"{item['kind']} ({item['score']:.2f}): {item['claim']} - {item['statement']}")
for link in data.links(d, key):
    st.caption(ui.esc(f"{link['claim']} is {link['kind']} of {link['other']}: {link['rationale']} ({link['by']})"))
if not similar:
    st.caption("No known claim says the same or something related.")


def act(done: str, call) -> None:  # type: ignore[no-untyped-def]
    """Run one service call as the acting user; on success refresh every cached page and say what happened."""
    try:
        call(data.runtime(d))
    except Exception as exc:
        if not ui.is_refusal(exc):
            raise
        ui.refusal(exc)
        return
    data.clear()
    st.session_state["detail_flash"] = done
    st.rerun()


offers = {
    "add": ui.may(role, "add_evidence"),
    "retract": ui.may(role, "retract_evidence"),
    "request": ui.may(role, "request"),
    "reopen": ui.may(role, "reopen") and detail["stage"] in ("confirmed", "refuted"),
}
st.markdown("#### Act on this claim")
if not any(offers.values()):
    st.caption(
        f"Acting as {ui.esc(actor or 'nobody')} ({ui.esc(role or 'no role')}): this role reads only. "
        "Analysts add and retract evidence and request sign-off; reviewers also sign off and reopen."
    )
else:
    st.caption(f"Acting as {ui.esc(actor)} ({ui.esc(role)}). The service checks every request again.")
    labels = {
        "add": "Add evidence",
        "retract": "Retract evidence",
        "request": "Request confirm / refute",
        "reopen": "Reopen",
    }
    offered = [k for k, v in offers.items() if v]
    tabs = dict(zip(offered, st.tabs([labels[k] for k in offered]), strict=True))

    if "add" in tabs:
        with tabs["add"], st.form("add_evidence", clear_on_submit=True):
            sources = data.lineage(d, detail["case"])
            rel = {s["key"]: s["reliability"] for s in sources}
            names = {s["key"]: s["name"] for s in sources}
            c1, c2, c3 = st.columns([3, 2, 2])
            source = c1.selectbox(
                "Source",
                list(rel),
                format_func=lambda k: f"{k} · {ui.RELIABILITY_LABELS[rel[k]]} · {names[k]}",
                help="Type to search. The source's reliability letter is fixed; you grade the item's credibility.",
                key="add_source",
            )
            stance = c2.radio("Stance", ["supports", "contradicts"], horizontal=True, key="add_stance")
            cred = c3.selectbox(
                "Credibility",
                list(ui.CREDIBILITY_LABELS),
                index=1,
                format_func=ui.CREDIBILITY_LABELS.get,
                key="add_credibility",
            )
            summary_text = st.text_area("Summary", key="add_summary", height=80, placeholder="What the source says")
            c4, c5 = st.columns([3, 2])
            locator = c4.text_input("Locator", key="add_locator", placeholder="URL, document reference (optional)")
            observed = c5.date_input("Observed", value=None, key="add_observed", max_value=date.today())
            if st.form_submit_button("Add evidence", type="primary", icon=":material/add:"):
                act(
                    f"Evidence from {source} ({rel.get(source, '?')}{cred}) added to {key}.",
                    lambda rt: services.add_evidence(
                        rt,
                        who,
                        key,
                        source,
                        stance,
                        credibility=int(cred),
                        summary=summary_text,
                        locator=locator.strip() or None,
                        observed_at=observed,
                    ),
                )

    if "retract" in tabs:
        with tabs["retract"]:
            live = [e for e in detail["evidence"] if not e["retracted"]]
            if not live:
                st.caption("No live evidence to retract.")
            else:
                with st.form("retract_evidence"):
                    items = {e["id"]: e for e in live}
                    chosen = st.selectbox(
                        "Item",
                        list(items),
                        format_func=lambda i: (
                            f"#{i} · {items[i]['source']} {items[i]['grade']} {items[i]['stance']} · "
                            f"{items[i]['summary'][:70]}"
                        ),
                        key="retract_item",
                    )
                    reason = st.text_input("Reason (required, recorded in the audit log)", key="retract_reason")
                    if st.form_submit_button("Retract", icon=":material/remove_circle:"):
                        act(
                            f"Evidence #{chosen} retracted from {key}.",
                            lambda rt: services.retract_evidence(rt, who, int(chosen), reason),
                        )

    if "request" in tabs:
        with tabs["request"]:
            targets = [s for s in ("confirmed", "refuted") if s in detail["assessment"]]
            if not targets:
                st.caption(f"A {detail['stage']} claim has no confirm or refute to request; a reviewer may reopen it.")
            else:
                with st.form("request_review"):
                    to = st.radio(
                        "Request",
                        targets,
                        horizontal=True,
                        format_func=lambda s: (
                            f"{s} ({'criteria hold' if detail['assessment'][s]['evidence_met'] else 'not met yet'})"
                        ),
                        key="request_to",
                    )
                    why = st.text_input("Reason", key="request_reason", placeholder="Why it should move (optional)")
                    st.caption("A second person signs off in the review queue (four eyes).")
                    if st.form_submit_button("Request sign-off", type="primary", icon=":material/flag:"):
                        act(
                            f"Sign-off requested: {key} to {to}.",
                            lambda rt: services.advance(
                                rt,
                                who,
                                key,
                                Stage(to),
                                expect_version=detail["version"],
                                reason=why.strip() or None,
                            ),
                        )

    if "reopen" in tabs:
        with tabs["reopen"], st.form("reopen_claim"):
            to = st.radio("Reopen to", ["corroborated", "reported"], horizontal=True, key="reopen_to")
            rationale = st.text_area(
                "Rationale (required, recorded in the audit log)", key="reopen_rationale", height=80
            )
            if st.form_submit_button("Reopen", icon=":material/lock_open:"):
                act(
                    f"{key} reopened to {to}.",
                    lambda rt: services.reopen(rt, who, key, Stage(to), rationale, expect_version=detail["version"]),
                )

notes_section(d, key, who, role)  # the team's reasoning, after the controls (issue 18)
