"""Roster planner: choose a window and the rules, solve with the daemon's optimizer (a progress
indicator, a time limit), then see who is on call (calendar), how fair it is (shifts against the
fair share, preferences granted), the optimality status and gap, and what changes against the
published roster; publish after a confirmation; download output.json, CSV and .ics; import and
export input.json. An infeasible plan shows the optimizer's reasons. A team linked to a PagerDuty
schedule can preview and push its final schedule there."""

from __future__ import annotations

import json
import time
import zoneinfo
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pandas as pd
import streamlit as st

import oncall_opt as oo
from oncall_opt.client import ApiError, DaemonUnavailable
from oncall_opt.console import common
from oncall_opt.roster import charts
from oncall_opt.roster.result import Roster

PLAN = "plan"  # session_state: the last solve, {"input", "job", "source"}
CONFIRM = "plan_confirm"
LENGTHS = {"P1D": "1 day", "PT12H": "12 hours", "P7D": "1 week"}
LAYER_NAMES = {1: "Primary", 2: "Secondary"}
POLL_SECONDS = 0.25
PD_PREVIEW = "_pl_pd_preview"  # session_state: the last dry run, with what it was asked for


# ----- rules ----------------------------------------------------------------------------------
RULE_NAMES = {
    "Window": "Window",
    "TeamId": "Team",
    "ShiftLength": "Shift length",
    "Handoff": "Handoff",
    "TimeZone": "Time zone",
    "Layers": "Layers",
    "MaxConsecutiveShifts": "Max shifts in a row",
    "MinRestShifts": "Rest after a run",
    "WeekendBalance": "Balance weekends",
    "KeepPublished": "Keep published shifts",
    "BalanceWeight": "Weight: even shifts",
    "HappinessWeight": "Weight: preferred days",
    "AvoidWeight": "Weight: avoided days",
    "StabilityWeight": "Weight: keep published",
    "BalanceBy": "Fair by",
    "NightWeight": "A night page counts",
}
FAIR_BY = {"shifts": "Shifts", "burden": "Expected pages"}


def _rules() -> tuple[dict[str, Any], float]:
    """The rule widgets; returns the API's options and the time limit. Their values are kept
    when the viewer goes to another page and comes back (`common.kept`)."""
    kept = common.kept
    viewer = common.zone_name()
    published = _published_rules()
    zones = list(dict.fromkeys([published.get("TimeZone", viewer), viewer, *common.COMMON_ZONES]))
    a, b, c, d = st.columns(4)
    length = kept(
        a.selectbox, "pl_length", "P1D", "Shift length", list(LENGTHS), format_func=LENGTHS.get
    )
    handoff = kept(
        b.time_input, "pl_handoff", _clock(published.get("Handoff")) or clock_time(9, 0),
        "Handoff at", step=timedelta(minutes=30),
    )  # fmt: skip
    if st.session_state.get("pl_zone") not in (None, *zones):
        zones.append(st.session_state["pl_zone"])
    zone = kept(
        c.selectbox, "pl_zone", published.get("TimeZone", viewer), "Time zone", zones,
        help="Shifts start at the handoff time in this zone.",
    )  # fmt: skip
    layers = kept(
        d.segmented_control, "pl_layers", published.get("Layers", 1), "Layers", [1, 2],
        format_func={1: "Primary", 2: "+ secondary"}.get, required=True,
    )  # fmt: skip
    if published:
        same = (zone, f"{handoff:%H:%M}" if handoff else None, layers) == (
            published.get("TimeZone"),
            published.get("Handoff"),
            published.get("Layers"),
        )
        st.caption(
            f"The published roster: handoff {common.line(published.get('Handoff', '?'))} "
            f"{common.line(published.get('TimeZone', '?'))}, "
            f"{'two layers' if published.get('Layers') == 2 else 'one layer'}"
            + (" (as here)." if same else ". :orange[These rules differ from it: publishing "
               "moves the handoff or the layers.]")
        )  # fmt: skip
    a, b, c, d = st.columns(4)
    max_run = kept(
        a.number_input, "pl_max_run", 0, "Max shifts in a row", 0, 31, help="0: no limit"
    )
    rest = kept(
        b.number_input, "pl_rest", 0, "Rest after a run (shifts)", 0, 31,
        help="Free shifts after a run.",
    )  # fmt: skip
    limit = kept(c.slider, "pl_limit", 30, "Time limit (s)", 5, 300, step=5)
    with d:
        weekend = kept(st.toggle, "pl_weekend", False, "Balance weekends separately")
        keep = kept(
            st.toggle, "pl_keep", True, "Keep published shifts",
            help="Re-plan without reshuffling everyone: each changed slot costs the stability "
            "weight.",
        )  # fmt: skip
    a, b = st.columns(2)
    balance_by = kept(
        a.segmented_control, "pl_fair_by", "shifts", "Fair by", list(FAIR_BY),
        format_func=FAIR_BY.get, required=True,
        help="Shifts: everyone about as many shifts. Expected pages: everyone about as much "
        "expected burden, from the team's pages over the last 12 weeks (a day on call counts "
        "1, each page expected then 1 more, a night page more still).",
    )  # fmt: skip
    night_weight = kept(
        b.number_input, "pl_night_weight", 3.0, "A night page counts as", 1.0, 20.0,
        step=0.5, disabled=balance_by != "burden",
        help="How many day pages one page between 22:00 and 07:00 weighs.",
    )  # fmt: skip
    with st.expander("What matters most (advanced)", icon=":material/tune:"):
        w1, w2, w3, w4 = st.columns(4)
        balance = kept(w1.number_input, "pl_w_balance", 1.0, "Even shifts", 0.0, 1000.0)
        happiness = kept(w2.number_input, "pl_w_happiness", 1.0, "Preferred days", 0.0, 1000.0)
        avoid = kept(w3.number_input, "pl_w_avoid", 1.0, "Sparing avoided days", 0.0, 1000.0)
        stability = kept(
            w4.number_input, "pl_w_stability", 10.0, "Keeping published shifts", 0.0, 1000.0,
            disabled=not keep,
        )  # fmt: skip
        st.caption(
            "How much each goal counts against the others (1 = as much as the default). The "
            "planner keeps shifts even (balance × Σ shifts²), gives the least-happy person as "
            "many of their preferred days as it can, spares avoided days, and with published "
            "shifts changes as few of them as it can."
        )
    options: dict[str, Any] = {
        "ShiftLength": length,
        "TimeZone": zone,
        "Handoff": f"{handoff:%H:%M}" if handoff else "00:00",
        "Layers": layers or 1,
        "MaxConsecutiveShifts": int(max_run) or None,
        "MinRestShifts": int(rest) or None,
        "WeekendBalance": bool(weekend),
        "BalanceWeight": balance,
        "HappinessWeight": happiness,
        "AvoidWeight": avoid,
        "KeepPublished": bool(keep),
        "TeamId": common.team_id(),
        "BalanceBy": balance_by or "shifts",
    }
    if balance_by == "burden":
        options["NightWeight"] = float(night_weight)
    if keep:
        options["StabilityWeight"] = stability
    return {k: v for k, v in options.items() if v is not None}, float(limit)


RULES_OF = ("pl_zone", "pl_handoff", "pl_layers")


def _published_rules() -> dict[str, Any]:
    """The rules of the roster the team last published (the daemon keeps them on the team),
    which the planner starts from; the viewer's own choices are kept until the team changes."""
    team = common.team_id()
    if st.session_state.get("_pl_rules_team") != team:  # another team: start from its rules
        st.session_state["_pl_rules_team"] = team
        shadow = st.session_state.get(common.KEPT, {})
        for key in RULES_OF:
            shadow.pop(key, None)
            st.session_state.pop(key, None)
    return common.client().get_team(team).get("RosterRules") or {}


def _clock(text: str | None) -> clock_time | None:
    try:
        hours, minutes = (int(part) for part in (text or "").split(":"))
        return clock_time(hours, minutes)
    except ValueError:
        return None


def rules_of(options: dict[str, Any], window: tuple[date, date] | None) -> dict[str, Any]:
    """What a result depends on: the options and the window (not the time limit)."""
    rules = dict(options)
    if window is not None:
        rules["Window"] = f"{window[0]} to {window[1]}"
    return rules


def _describe(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(LENGTHS.get(value, value)) if isinstance(value, str) else str(value)


def changed_rules(solved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`Max shifts in a row: 2 → none` for each rule that differs."""
    lines = []
    for key, name in RULE_NAMES.items():
        before, now = solved.get(key), current.get(key)
        if before != now:
            lines.append(f"{name}: {_describe(before)} → {_describe(now)}")
    return lines


# ----- solving --------------------------------------------------------------------------------
def solve(
    document: dict, time_limit: float, source: str, rules: dict[str, Any] | None = None
) -> None:
    """Solve `document` on the daemon, showing progress; the result goes to session_state with
    the `rules` it was solved with (None: an imported input.json, which has its own)."""
    api = common.client()
    st.session_state.pop(CONFIRM, None)
    with st.status("Solving…", expanded=True) as status:
        try:
            job = api.start_solve(input=document, time_limit=time_limit)
        except DaemonUnavailable:
            raise
        except ApiError as exc:
            status.update(label="The daemon refused the plan", state="error")
            common.api_error(exc, "solve")
            return
        bar = st.progress(0.0, text="queued")
        started = time.monotonic()
        while job["Status"] in ("queued", "running"):
            elapsed = time.monotonic() - started
            if elapsed > time_limit + 60:
                status.update(label="The solve did not finish in time", state="error")
                st.error("The daemon did not finish the solve; try a shorter window.")
                return
            bar.progress(
                min(elapsed / time_limit, 0.99),
                text=f"{job['Status']}: {elapsed:.0f} s of at most {time_limit:g} s",
            )
            time.sleep(POLL_SECONDS)
            job = api.solve_job(job["JobId"])
        bar.progress(1.0, text=f"finished in {took(job)}")
        if job["Status"] == "done":
            stats = job.get("Statistics") or {}
            status.update(
                label=f"Solved in {took(job)}: {_in_words(stats)}",
                state="complete",
                expanded=False,
            )
        else:
            status.update(label="No roster", state="error", expanded=False)
    st.session_state[PLAN] = {
        "input": document,
        "job": job,
        "source": source,
        "team": common.team_id(),
        "rules": rules,
    }


def took(job: dict) -> str:
    """The solve's time: `0.04 s` under a second (not a puzzling `0.0 s`), else `12.3 s`."""
    seconds = job.get("Seconds") or 0.0
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def roster_of(document: dict, output: dict) -> Roster | None:
    """The solved roster rebuilt from its input.json and output.json (None if they disagree)."""
    problem = oo.load_problem(document)
    assignment = problem.with_previous(output).previous
    if len(assignment) != problem.n_slots * len(problem.layers):
        return None
    stats = output.get("statistics") or {}
    return Roster(
        problem,
        assignment,
        stats.get("status", "feasible"),
        stats.get("bound"),
        stats.get("build_seconds") or 0.0,
        stats.get("solve_seconds") or 0.0,
        stats.get("method") or "",
    )


def published_roster(roster: Roster) -> tuple[Roster, int]:
    """Who is on call now over the roster's slots, by the final schedule (the published
    roster with its overrides and swaps), as a (partial) Roster of the same problem, and how
    many stretches of it there are in the window."""
    problem = roster.problem
    start, stop = problem.grid.starts[0], problem.grid.end
    segments = [
        s for s in common.client().final_schedule(plan_team(), start, stop)
        if s.get("User") and s["Layer"] in problem.layers
    ]  # fmt: skip
    previous: dict[str, list] = {"overrides": [], "secondary_overrides": []}
    for segment in segments:
        key = "overrides" if segment["Layer"] == 1 else "secondary_overrides"
        previous[key].append(
            {
                "start": segment["Start"],
                "end": segment["End"],
                "user": {"id": str(segment["User"]["Id"]),
                         "name": common.full_name(segment["User"])},
            }
        )  # fmt: skip
    if len(problem.layers) == 1:
        del previous["secondary_overrides"]
    assignment = problem.with_previous(previous).previous if segments else {}
    before = Roster(problem, assignment, "published", None, 0.0, 0.0, "published")
    return before, len(segments)


# ----- results --------------------------------------------------------------------------------
def _infeasible(job: dict) -> None:
    reasons = job.get("Reasons") or []
    if reasons:
        st.error(
            "**No roster satisfies every rule.** The optimizer's explanation:\n\n"
            + "\n".join(f"- {common.line(reason)}" for reason in reasons),
            icon=":material/block:",
        )
        st.caption(
            "Change the availability of the days named, relax the rules above "
            "(max shifts in a row, rest) or use fewer layers, and solve again."
        )
    else:
        st.error(
            f"**No roster:** {common.line(job.get('Error') or 'the solve failed')}",
            icon=":material/block:",
        )


def _in_words(stats: dict) -> str:
    if stats.get("status") == "optimal":
        return "the best possible roster"
    return "a good roster, maybe not the best"


def _status_metrics(stats: dict, job: dict) -> None:
    """The result in plain words; the solver's own figures one click away."""
    status = stats.get("status", "?")
    gap = stats.get("gap")
    slots, layers = stats.get("slots", 0), stats.get("layers", 1)
    a, b, c = st.columns(3)
    a.metric(
        "Result",
        "Best possible" if status == "optimal" else "Good, maybe not the best",
        help="Best possible: proven, no fairer roster exists under these rules. Otherwise the "
        "best roster found within the time limit.",
        border=True,
    )
    b.metric(
        "Shifts planned",
        f"{slots * layers}",
        help=f"{slots} slot(s)" + (f" × {layers} layers" if layers > 1 else ""),
        border=True,
    )
    c.metric("Took", took(job), border=True)
    if status == "optimal":
        st.success(
            "Proven the best possible: no fairer roster exists under these rules.",
            icon=":material/verified:",
        )
    else:
        st.warning(
            "Stopped at the time limit with the best roster found"
            + ("." if gap is None else f", at most {gap:.1%} from the best possible.")
            + " A longer time limit may find a better one.",
            icon=":material/hourglass_bottom:",
        )
    with st.expander("Solver details", icon=":material/functions:"):
        st.markdown(
            f"- Status: `{status}`\n"
            f"- Objective: {stats.get('objective', 0):g} (lower is better)\n"
            f"- Bound: {_describe(stats.get('bound'))}; gap "
            f"{'unknown' if gap is None else f'{gap:.2%}'}\n"
            f"- Slots: {slots} × {layers} layer(s)\n"
            f"- Method: {stats.get('method') or 'n/a'}; build "
            f"{stats.get('build_seconds') or 0:.2f} s, "
            f"solve {stats.get('solve_seconds') or 0:.2f} s"
        )


def _burden_of(plan: dict) -> dict | None:
    """The daemon's burden estimate for the plan's window and rules (asked once per plan)."""
    rules = plan.get("rules") or {}
    if "Window" not in rules:
        return None  # an imported input.json: its own slot weights, no estimate to show
    if "burden" not in plan:
        first, last = rules["Window"].split(" to ")
        wanted = ("ShiftLength", "TimeZone", "Handoff", "NightWeight")
        try:
            plan["burden"] = common.client().team_burden(
                plan["team"], first, last, **{k: rules[k] for k in wanted if k in rules}
            )
        except ApiError as exc:
            common.api_error(exc, "estimate the burden")
            plan["burden"] = None
    return plan["burden"]


def burden_lines(roster: Roster, estimate: dict) -> tuple[str, list[dict[str, Any]]]:
    """What "fair" means for a roster balanced by burden, in a sentence, and per person the
    expected pages and night pages of the slots they hold (from the estimate's slots)."""
    slots = estimate["Slots"]
    rows = []
    for row in roster.per_user_rows:
        u = roster.problem.user_index(row["user_id"])
        held = [t for (t, _layer), v in roster.assignment.items() if v == u]
        rows.append(
            {
                "user_name": row["user_name"],
                "shifts": row["shifts"],
                "expected_pages": round(sum(slots[t]["Pages"] for t in held), 1),
                "expected_night_pages": round(sum(slots[t]["NightPages"] for t in held), 1),
                "burden": row["burden"],
                "bore_before": row["history"],
                "fair_burden": row["fair_burden"],
            }
        )
    each = ", ".join(
        f"{r['user_name']}: {r['expected_night_pages']:g} expected night pages"
        for r in sorted(rows, key=lambda r: -r["expected_night_pages"])
    )
    sentence = (
        "Fair here means everyone carries about the same expected burden (with what they bore "
        f"before), not the same number of shifts. {estimate['Explanation']} {each}."
    )
    return sentence, rows


def _fairness(roster: Roster, plan: dict | None = None) -> None:
    if roster.problem.weighted and plan is not None:
        estimate = _burden_of(plan)
        if estimate is not None and len(estimate["Slots"]) == roster.problem.n_slots:
            sentence, rows = burden_lines(roster, estimate)
            st.markdown(common.text(sentence))
            st.dataframe(
                rows,
                hide_index=True,
                column_config={
                    "user_name": st.column_config.TextColumn("Person"),
                    "shifts": st.column_config.NumberColumn("Shifts"),
                    "expected_pages": st.column_config.NumberColumn("Expected pages"),
                    "expected_night_pages": st.column_config.NumberColumn("Of them at night"),
                    "burden": st.column_config.NumberColumn("Burden (points)"),
                    "bore_before": st.column_config.NumberColumn(
                        "Bore before",
                        help="Points borne in the window before: who bore "
                        "more then takes less now.",
                    ),
                    "fair_burden": st.column_config.NumberColumn(
                        "Even share", format="%.1f", help="Of this window's points alone."
                    ),
                },
            )
    # Two charts side by side on a wide screen, one above the other on a phone (columns stack).
    shifts, preferences = charts.workload_panels(roster, colors=common.person_colors())
    left, right = st.columns(2)
    left.altair_chart(shifts, width="stretch")
    right.altair_chart(preferences, width="stretch")
    table = roster.per_user[
        ["user_name", "shifts", "fair_share", "weekend_shifts", "preferred_granted",
         "preferred_asked", "avoided_given"]
    ]  # fmt: skip
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "user_name": st.column_config.TextColumn("Person"),
            "shifts": st.column_config.NumberColumn("Shifts"),
            "fair_share": st.column_config.NumberColumn("Fair share", format="%.1f"),
            "weekend_shifts": st.column_config.NumberColumn("Weekend shifts"),
            "preferred_granted": st.column_config.ProgressColumn(
                "Preferred days granted",
                min_value=0,
                max_value=max(1, int(table["preferred_asked"].max())),
                format="%d",
            ),
            "preferred_asked": st.column_config.NumberColumn("Asked for"),
            "avoided_given": st.column_config.NumberColumn("Avoided days given"),
        },
    )


def _changes(roster: Roster, before: Roster, published: int) -> int:
    """The difference against the published roster; returns how many slots change."""
    diff = oo.compare(before, roster)
    changed = diff[diff["changed"]]
    total = len(diff)
    if published == 0:
        st.info(
            f"Nothing is published in this window yet: publishing adds all {total} slots.",
            icon=":material/info:",
        )
        return total
    st.metric("Slots that change", f"{len(changed)} of {total}", border=True)
    if len(changed):
        rows = pd.DataFrame(
            {
                "From": [common.wall(s.to_pydatetime()) for s in changed["start"]],
                "Layer": [LAYER_NAMES.get(layer, str(layer)) for layer in changed["layer"]],
                "Published": changed["before"].fillna("nobody"),
                "New": changed["after"],
            }
        )
        st.dataframe(
            rows,
            hide_index=True,
            column_config={"From": common.datetime_column(f"From ({common.zone_name()})")},
        )
    else:
        st.success("Same as the published roster.", icon=":material/check:")
    return len(changed)


def plan_team() -> int:
    """The team the result on screen was planned for (the sidebar may have moved on)."""
    plan = st.session_state.get(PLAN) or {}
    return int(plan.get("team") or common.team_id())


def _described(zone: str, handoff: str, layers: int) -> str:
    return f"handoff {handoff} {zone}, {'two layers' if layers == 2 else 'one layer'}"


def rules_in_words(roster: Roster, published: dict | None) -> str:
    """What publishing does to the handoff and the layers, in words (Markdown, escaped)."""
    grid = roster.problem.grid
    mine = _described(
        grid.zone_name, grid.local(grid.starts[0]).strftime("%H:%M"), len(roster.problem.layers)
    )
    if not published:
        return common.line(f"It sets the {mine}.")
    before = _described(
        published.get("TimeZone", "?"), published.get("Handoff", "?"), published.get("Layers", 1)
    )
    if before == mine:
        return common.line(f"The {mine} stay as published.")
    return common.line(f"It changes the {before} to {mine}.")


def _publish(
    output: dict, document: dict, roster: Roster, changed: int, published: int, stale: bool
) -> None:
    grid = roster.problem.grid
    first, stop = common.when(grid.starts[0]), common.when(grid.end)
    if stale:
        st.session_state.pop(CONFIRM, None)
    if not st.session_state.get(CONFIRM):
        why_not = None
        if not common.is_admin():
            why_not = "Only an admin can publish a roster."
        elif stale:
            why_not = "The rules changed since this solve: solve again first."
        if st.button(
            "Publish this roster…",
            type="primary",
            icon=":material/publish:",
            key="pl_publish",
            disabled=why_not is not None,
            help=why_not,
        ):
            st.session_state[CONFIRM] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning(
            f"**Publish?** The shifts from {first} to {stop} "
            + (f"({published} published now, {changed} slot(s) change) " if published else "")
            + "are replaced by this roster. From then on it decides who gets paged. "
            + rules_in_words(roster, common.client().get_team(plan_team()).get("RosterRules")),
            icon=":material/warning:",
        )
        yes, no, _ = st.columns([1.2, 1, 4])
        if yes.button("Yes, publish", type="primary", key="pl_publish_yes"):
            shifts = common.client().publish_roster(
                output, team_id=plan_team(), planned_with=document
            )
            st.session_state.pop(CONFIRM, None)
            common.flash(f"Published: {len(shifts)} shift(s) from {first} to {stop}.")
            st.rerun()
        if no.button("Cancel", key="pl_publish_no"):
            st.session_state.pop(CONFIRM, None)
            st.rerun()


def _downloads(document: dict, output: dict, roster: Roster) -> None:
    a, b, c, d = st.columns(4)
    stamp = roster.problem.grid.local(roster.problem.grid.starts[0]).date().isoformat()
    a.download_button(
        "output.json",
        json.dumps(output, indent=2, ensure_ascii=False) + "\n",
        file_name="output.json",
        mime="application/json",
        icon=":material/download:",
        key="dl_output",
    )
    b.download_button(
        "CSV",
        oo.render(roster, "csv"),
        file_name=f"roster-{stamp}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="dl_csv",
    )
    c.download_button(
        "Calendar (.ics)",
        oo.render(roster, "ics"),
        file_name=f"roster-{stamp}.ics",
        mime="text/calendar",
        icon=":material/download:",
        key="dl_ics",
    )
    d.download_button(
        "input.json",
        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        file_name="input.json",
        mime="application/json",
        icon=":material/download:",
        key="dl_plan_input",
    )


def _stale(plan: dict, current: dict[str, Any]) -> bool:
    """Whether the rules or the window changed since the result on screen was solved; says
    what changed, with a button to solve again."""
    solved = plan.get("rules")
    if solved is None or solved == current:
        return False
    with st.container(border=True, key="pl_stale"):
        st.warning(
            "**Out of date:** the rules changed since this result was solved, so it is not "
            "what these rules give. Solve again before publishing.\n\n"
            + "\n".join(f"- {line}" for line in changed_rules(solved, current)),
            icon=":material/update:",
        )
        if st.button(
            "Solve again with the current rules",
            key="pl_resolve",
            type="primary",
            icon=":material/refresh:",
        ):
            st.session_state["_pl_resolve"] = True
            st.rerun()
    return True


def _result(plan: dict, current: dict[str, Any]) -> None:
    job, document = plan["job"], plan["input"]
    st.subheader("Result")
    stale = _stale(plan, current)
    grid = oo.load_problem(document).grid
    st.caption(
        f"Planned from {common.line(plan['source'])}: shifts from {common.when(grid.starts[0])} to "
        f"{common.when(grid.end)} ({common.zone_name()})"
    )
    if job["Status"] != "done":
        _infeasible(job)
        return
    output = job["Output"]
    stats = output.get("statistics") or {}
    _status_metrics(stats, job)
    for warning in job.get("Warnings") or []:
        st.caption(f":material/info: {common.line(warning)}")
    roster = roster_of(document, output)
    if roster is None:
        st.error("The roster does not match its input; solve again.")
        return
    calendar_tab, fair_tab, diff_tab = st.tabs(
        ["Calendar", "Fairness", "Changes against the published roster"],
        key="plan_tab",
        bind="query-params",
    )
    before, published = published_roster(roster)
    with diff_tab:
        changed = _changes(roster, before, published)
    with calendar_tab:
        zone = roster.problem.grid.zone_name
        st.caption(
            f"One cell per day in the roster's time zone ({zone}): who is on call and the date; "
            "★: a day they asked for. Each person keeps their colour on every page."
        )
        for layer in roster.problem.layers:
            title = LAYER_NAMES.get(layer, f"Layer {layer}")
            if published:
                title += ": slots that differ from the published roster are outlined"
            chart = charts.calendar(
                roster,
                before=before if published else None,
                layer=layer,
                title=title,
                colors=common.person_colors(),
            )
            st.altair_chart(chart, width="stretch")  # a phone gets narrower cells, not a cut
    with fair_tab:
        _fairness(roster, plan)
    _publish(output, document, roster, changed, published, stale)
    _downloads(document, output, roster)


# ----- PagerDuty ------------------------------------------------------------------------------
def push_window(window: tuple[date, date], rules: dict[str, Any]) -> tuple[datetime, datetime]:
    """What a push covers: from the handoff on the window's first day to the handoff after its
    last, in the published roster's time zone (without one: the viewer's midnights)."""
    zone = zoneinfo.ZoneInfo(rules.get("TimeZone") or common.zone_name())
    handoff = _clock(rules.get("Handoff")) or clock_time(0, 0)
    return (
        datetime.combine(window[0], handoff, zone),
        datetime.combine(window[1] + timedelta(days=1), handoff, zone),
    )


def _push(team: int, start: datetime, end: datetime, layer: int, dry_run: bool) -> dict | None:
    """The daemon's push (or dry run); its refusal shown, None."""
    try:
        with st.spinner("Asking PagerDuty…"):
            return common.client().push_to_pagerduty(team, start, end, layer, dry_run=dry_run)
    except DaemonUnavailable:
        raise
    except ApiError as exc:
        common.api_error(exc, "preview the push" if dry_run else "push to PagerDuty")
        return None


def _push_rows(answer: dict) -> None:
    """What changes at PagerDuty, slot by slot (a table: names are data, never Markdown)."""
    rows = answer["Rows"]
    if not rows:
        st.info("PagerDuty already shows this: nothing to change.", icon=":material/check_circle:")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Slot (UTC)": [row["Slot"] for row in rows],
                "Now": [row["Now"] for row in rows],
                "After": [row["After"] for row in rows],
                "What is done": [row["Action"] for row in rows],
            }
        ),
        hide_index=True,
    )


def _pagerduty(window: tuple[date, date] | None) -> None:
    """For a team linked to a PagerDuty schedule: preview, then push, its final schedule (the
    published roster with its overrides) over the window, as PagerDuty overrides."""
    team = common.client().get_team(common.team_id())
    schedule = team.get("PagerDutySchedule")
    if not schedule:
        return
    st.subheader("PagerDuty")
    if window is None:
        st.caption("Choose a planning window above to push it to PagerDuty.")
        return
    rules = team.get("RosterRules") or {}
    start, end = push_window(window, rules)
    layer = 1
    if rules.get("Layers") == 2:
        layer = common.kept(
            st.segmented_control, "pl_pd_layer", 1, "Layer", [1, 2],
            format_func=LAYER_NAMES.get, required=True,
        ) or 1  # fmt: skip
    st.caption(
        common.line(
            f"Linked to PagerDuty schedule {schedule}. A push makes its final schedule show "
            f"this team's {LAYER_NAMES[layer].lower()} layer as published here (overrides "
            f"included) from {common.when(start)} to {common.when(end)}, as PagerDuty "
            "overrides; stretches already started and people's own PagerDuty overrides are "
            "left alone. A result not yet published is not pushed."
        )
    )
    why_not = None if common.is_admin() else "Only an admin can push to PagerDuty."
    asked = {"team": team["Id"], "start": start.isoformat(), "end": end.isoformat(), "layer": layer}
    preview, push, _ = st.columns([1, 1.5, 3])
    if preview.button(
        "Preview", key="pl_pd_preview", icon=":material/preview:",
        disabled=why_not is not None, help=why_not or "What would change; nothing is written.",
    ):  # fmt: skip
        answer = _push(team["Id"], start, end, layer, dry_run=True)
        st.session_state.pop(PD_PREVIEW, None)
        if answer is not None:
            st.session_state[PD_PREVIEW] = {**asked, "answer": answer}
    if push.button(
        "Push to PagerDuty", key="pl_pd_push", type="primary", icon=":material/cloud_upload:",
        disabled=why_not is not None, help=why_not,
    ):  # fmt: skip
        st.session_state.pop(PD_PREVIEW, None)
        answer = _push(team["Id"], start, end, layer, dry_run=False)
        if answer is not None:
            st.success(
                common.line(f"Pushed to PagerDuty: {answer['Summary']}."),
                icon=":material/cloud_done:",
            )
            _push_rows(answer)
    shown = st.session_state.get(PD_PREVIEW)
    if shown and {key: shown[key] for key in asked} == asked:
        st.caption(common.line(f"Preview (nothing written yet): {shown['answer']['Summary']}."))
        _push_rows(shown["answer"])


# ----- import / export ------------------------------------------------------------------------
def _import_export(window: tuple[date, date] | None, options: dict, limit: float) -> None:
    with st.expander(
        "input.json: export this window, or solve an imported one", icon=":material/sync_alt:"
    ):
        left, right = st.columns(2)
        with left:
            st.markdown("**Export**: the input.json the optimizer gets for this window and rules "
                        "(for `oncall-opt solve` or a notebook).")  # fmt: skip
            if window is not None:
                try:
                    document = common.client().roster_input(*window, **options)
                except DaemonUnavailable:
                    raise
                except ApiError as exc:
                    st.caption(f":orange[Cannot export: {common.line(exc.message)}]")
                else:
                    st.download_button(
                        "Export input.json",
                        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                        file_name=f"input-{window[0]}.json",
                        mime="application/json",
                        icon=":material/download:",
                        key="dl_input",
                    )
        with right:
            uploaded = st.file_uploader("Import input.json", type=["json"], key="pl_upload")
            if uploaded is None:
                return
            try:
                document = json.loads(uploaded.getvalue().decode("utf-8"))
                oo.load_problem(document)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                st.error(f"{common.line(uploaded.name)} is not JSON: {common.line(exc)}")
                return
            except oo.InputError as exc:
                st.error(
                    f"**{common.line(uploaded.name)} is not a valid input.json:**\n\n"
                    + "\n".join(
                        f"- {common.line(where)}: {common.line(message)}"
                        for where, message in exc.problems[:20]
                    )
                )
                return
            st.caption(common.line(
                f"{uploaded.name}: {len(document['users'])} people, "
                f"{document['schedule_start']} to {document['schedule_end']}"
            ))  # fmt: skip
            if st.button(
                "Solve the imported input", key="pl_solve_import", icon=":material/play_arrow:"
            ):
                solve(document, limit, uploaded.name)


def render() -> None:
    st.title("Roster planner")
    st.caption(
        "Plan a fair roster from everyone's availability: balanced shifts, preferred days "
        "granted, avoided days spared, with a proof of optimality."
    )
    if not common.team_members():
        st.info(
            "Nobody in this team yet: add people to it on the **People** page.",
            icon=":material/group:",
        )
        return
    window = common.window_input("pl_window")
    options, limit = _rules()
    again = st.session_state.pop("_pl_resolve", False)
    if st.button(
        "Solve",
        type="primary",
        icon=":material/play_arrow:",
        key="pl_solve",
        disabled=window is None,
    ) or (again and window is not None):
        assert window is not None
        try:
            document = common.client().roster_input(*window, **options)
        except DaemonUnavailable:
            raise
        except ApiError as exc:
            common.api_error(exc, "plan this window")
        else:
            solve(
                document, limit, f"the window {window[0]} to {window[1]}",
                rules_of(options, window),
            )  # fmt: skip
    _import_export(window, options, limit)
    plan = st.session_state.get(PLAN)
    if plan:
        _result(plan, rules_of(options, window))
    _pagerduty(window)


if __name__ == "__main__":
    common.run_page(render)
