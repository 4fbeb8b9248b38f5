"""Charts of rosters and what-ifs, as Altair (Vega-Lite) charts.

    from oncall_opt.roster import charts
    charts.calendar(roster)                 # who is on call each day, as a calendar heat map
    charts.calendar(after, before=roster)   # the same, slots that changed outlined
    charts.workload(roster)                 # shifts against the fair share, preferences granted
    charts.tradeoff(oo.sweep(problem, [0, 1, 5]))   # what a weight buys, the current one marked

Charts display in Jupyter (Lab, Notebook, VS Code) and in HTML exports of a notebook
(`jupyter nbconvert --to html`); `chart.save("roster.html")` writes a page, and with
`vl-convert-python` installed `chart.save("roster.png")` or `.svg` a picture. Only this module
needs Altair: `import oncall_opt` works without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import altair as alt
import pandas as pd

from oncall_opt.roster.result import Roster
from oncall_opt.roster.whatif import WEEKDAYS, calendar_frame

# Colour-blind-safe colours, one per person: Okabe & Ito's seven (without black), then Paul
# Tol's "muted" nine, which stay distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#332288", "#88CCEE", "#117733", "#DDCC77", "#CC6677", "#AA4499", "#44AA99", "#999933",
    "#882255",
)  # fmt: skip
_counts = alt.Axis(tickMinStep=1)  # shifts, slots and sums of squares are whole numbers


def person_colors(names: Iterable[str]) -> dict[str, str]:
    """A colour per person, in the order given (give everyone in a stable order, such as by
    user id, and each person keeps their colour in every chart)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more with `background` (#rrggbb), by WCAG's
    relative luminance."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#ffffff"


def _colors(roster: Roster, colors: Mapping[str, str] | None) -> dict[str, str]:
    known = dict(colors or {})
    missing = [u.name for u in roster.problem.users if u.name not in known]
    extra = person_colors([*known, *missing])
    return {**extra, **known}


def _person_scale(colors: Mapping[str, str]) -> alt.Scale:
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def calendar(
    roster: Roster,
    before: Roster | None = None,
    layer: int = 1,
    title: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> alt.LayerChart:
    """Who is on call each day: weekdays across, weeks down, one colour per person.

    Each cell names the person and the date (day and month), with a star where the person asked
    for that slot; the text is black or white, whichever reads better on the cell. `colors`
    maps names to colours (default: `person_colors` in the problem's order), so a page can keep
    each person's colour the same everywhere. With `before`, cells where `roster` differs from
    it are outlined and the tooltip says who had them. One cell per day: for shifts shorter
    than a day, chart `calendar_frame` per hour.
    """
    frame = calendar_frame(roster, before)
    frame = frame[frame["layer"] == layer]
    palette = _colors(roster, colors)
    data = pd.DataFrame(
        {
            "date": [d.isoformat() for d in frame["date"]],
            "weekday": frame["weekday"],
            "week": [f"week of {w.day} {w:%b}" for w in frame["week"]],
            "label": [f"{d.day} {d:%b}" for d in frame["date"]],
            "who": [
                f"{str(name).split(' ')[0]}{' ★' if p else ''}"
                for name, p in zip(frame["user_name"], frame["preferred"], strict=True)
            ],
            "ink": [text_color(palette.get(n, "#dddddd")) for n in frame["user_name"]],
            "user_name": frame["user_name"],
            "preferred": frame["preferred"],
            "changed": frame["changed"],
            "before": frame["before"] if before is not None else frame["user_name"],
        }
    )
    changed = int(data["changed"].sum())
    if title is None:
        title = f"{changed} slot(s) changed" if before is not None else "On call"
    base = alt.Chart(data).encode(
        x=alt.X(
            "weekday:O",
            sort=list(WEEKDAYS),
            title=None,
            axis=alt.Axis(orient="top", labelAngle=0),
        ),
        y=alt.Y("week:O", title=None, sort=None),
        tooltip=[
            alt.Tooltip("date:N"),
            alt.Tooltip("user_name:N", title="on call"),
            alt.Tooltip("before:N", title="before"),
            alt.Tooltip("preferred:N", title="asked for it"),
        ],
    )
    cells = base.mark_rect(cornerRadius=3).encode(
        # No legend: every cell names its person, and a narrow screen needs the width.
        color=alt.Color("user_name:N", title="person", scale=_person_scale(palette), legend=None),
        stroke=alt.condition("datum.changed", alt.value("black"), alt.value(None)),
        strokeWidth=alt.condition("datum.changed", alt.value(3), alt.value(0)),
    )
    fits = alt.expr("bandwidth('x') - 2")  # a narrow cell shortens its text with an ellipsis
    days = base.mark_text(fontSize=10, dy=-7, limit=fits).encode(
        text="label:N", color=alt.Color("ink:N", scale=None)
    )
    names = base.mark_text(fontSize=11, fontWeight="bold", dy=7, limit=fits).encode(
        text="who:N", color=alt.Color("ink:N", scale=None)
    )
    return (cells + days + names).properties(title=title, width=7 * 76, height=alt.Step(40))


def workload(roster: Roster, colors: Mapping[str, str] | None = None) -> alt.HConcatChart:
    """Shifts per person against their fair share (black ticks), beside preferred slots granted
    out of those asked; `colors` as for `calendar`."""
    shifts, preferences = workload_panels(roster, colors, width=260)
    return alt.hconcat(shifts, preferences)


def workload_panels(
    roster: Roster, colors: Mapping[str, str] | None = None, width: int | str = "container"
) -> tuple[alt.LayerChart, alt.LayerChart]:
    """`workload`'s two panels, each on its own (a page can stack them on a narrow screen):
    `width="container"` fills whatever holds it. A row per person, 28 px high, so names never
    overlap; axis titles short enough for a phone."""
    frame = roster.per_user
    palette = _colors(roster, colors)
    base = alt.Chart(frame).encode(
        y=alt.Y("user_name:N", title=None, sort=None, axis=alt.Axis(labelLimit=140))
    )
    shifts = base.mark_bar().encode(
        x=alt.X("shifts:Q", title="shifts (tick: fair share)", axis=_counts),
        color=alt.Color("user_name:N", scale=_person_scale(palette), legend=None),
        tooltip=["user_name", "shifts", "fair_share", "weekend_shifts"],
    )
    fair = base.mark_tick(color="black", thickness=3).encode(x="fair_share:Q")
    asked = base.mark_bar(color="#ddd").encode(
        x=alt.X("preferred_asked:Q", title="preferred granted (grey: asked)", axis=_counts)
    )
    granted = base.mark_bar(color="#4c78a8").encode(
        x="preferred_granted:Q", tooltip=["user_name", "preferred_granted", "preferred_asked"]
    )
    size = {"width": width, "height": alt.Step(28)}
    return (
        (shifts + fair).properties(title="Shifts", **size),
        (asked + granted).properties(title="Preferences", **size),
    )


def tradeoff(
    frame: pd.DataFrame, x: str = "min_happiness", y: str = "balance", title: str | None = None
) -> alt.LayerChart:
    """A `sweep` as a curve: one point per distinct roster outcome, labelled with the weights
    that give it and joined in weight order, the problem's current weight in red. By default
    preferred slots granted to the least-happy person across, the balance term (sum of squared
    shifts: lower is fairer) up; any two numeric columns of the sweep will do."""
    extra = [c for c in ("max_shifts", "spread", "avoided", "min_happiness") if c not in (x, y)]
    points = (
        frame.groupby([x, y], sort=False)
        .agg(
            first_weight=("weight", "min"),
            weights=("weight", lambda w: ", ".join(f"{v:g}" for v in w)),
            current=("current", "any"),
            **{c: (c, "first") for c in extra if c in frame},
        )
        .reset_index()
    )
    points["label"] = [
        f"w = {w}" + (" (current)" if c else "")
        for w, c in zip(points["weights"], points["current"], strict=True)
    ]
    tooltip = [alt.Tooltip("weights:N", title="weights"), x, y, *(c for c in extra if c in frame)]
    base = alt.Chart(points).encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(zero=False, padding=40), axis=_counts),
        y=alt.Y(f"{y}:Q", scale=alt.Scale(zero=False, padding=20), axis=_counts),
        tooltip=tooltip,
    )
    red = "#d62728"
    line = base.mark_line(color="#999").encode(order="first_weight:Q")
    dots = base.mark_point(filled=True, opacity=1).encode(
        color=alt.condition("datum.current", alt.value(red), alt.value("#4c78a8")),
        size=alt.condition("datum.current", alt.value(200), alt.value(70)),
    )
    labels = base.mark_text(align="left", dx=10, dy=-10, fontSize=11).encode(
        text="label:N",
        color=alt.condition("datum.current", alt.value(red), alt.value("#333")),
    )
    title = title or f"{y} against {x}, weight by weight"
    return (line + dots + labels).properties(title=title, width=420, height=300)
