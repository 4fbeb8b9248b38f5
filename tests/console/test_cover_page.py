"""Finding cover in the console (AppTest against a real daemon with the demo team): Rota's
Cover tab asks for cover of a picked shift and shows the request's progress (the ranking with
why, who is asked until when); the person asked accepts there and everyone sees the result;
the Availability page lists one's shifts on days marked away at once, each with Find cover;
names are escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_app import _a_shift_of, _click_bar, api, console, no_errors, texts, user_id  # noqa: F401


def _shift_in(days: int) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    start += timedelta(days=days)
    return start, start + timedelta(hours=24)


def test_the_cover_tab_finds_cover_and_the_one_asked_accepts(api, monkeypatch):  # noqa: F811
    chloe = user_id(api, "Chloé")
    start, end = _shift_in(3)
    api.create_schedule(chloe, start, end, layer=1)
    at = console(api, monkeypatch, "rota", me=chloe)
    at.query_params["tab"] = "Cover"
    at.run()
    no_errors(at)
    [mine] = [o for o in at.selectbox(key="cover_pick").options if "Chloé" in o]
    at.selectbox(key="cover_pick").select(mine).run()
    at.selectbox(key="cover_reason").select("sick").run()
    at.button(key="cover_find").click().run()
    no_errors(at)
    [request] = api.list_cover(1)
    assert (request["For"]["Id"], request["Reason"], request["Status"]) == (chloe, "sick", "asking")
    assert (datetime.fromisoformat(request["Start"]), datetime.fromisoformat(request["End"])) == (
        start, end,
    )  # fmt: skip
    asked = request["Asked"]
    shown = texts(at)
    assert f"asking {asked['FirstName']} {asked['LastName']} first" in shown
    assert f"Asking **{asked['FirstName']} {asked['LastName']}** until" in shown
    ranking = next(d.value for d in at.dataframe if "Why" in d.value.columns)
    assert list(ranking["Why"]) == [c["Why"] for c in request["Candidates"]]
    assert next(iter(ranking["Answer"])) == "waiting"

    at.session_state["me"] = asked["Id"]
    at.run()
    at.button(key=f"cover_accept_{request['Id']}").click().run()
    no_errors(at)
    done = api.get_cover(request["Id"])
    assert done["Status"] == "covered" and done["CoveredBy"]["Id"] == asked["Id"]
    assert f"Covered by {asked['FirstName']} {asked['LastName']}" in texts(at)
    final = api.final_schedule(1, start, end, layer=1)
    assert [(s["User"]["Id"], s["Source"]) for s in final] == [(asked["Id"], "override")]


def test_days_away_over_ones_shift_offer_find_cover_at_once(api, monkeypatch):  # noqa: F811
    dev = user_id(api, "Dev")
    start, end = _shift_in(4)
    api.create_schedule(dev, start, end, layer=1)
    day = start.date()
    saved = api.set_availability(dev, day, day, {day: "unavailable"})
    assert [(s["Start"], s["Layer"]) for s in saved["AwayShifts"]] == [
        (start.isoformat().replace("+00:00", "Z"), 1)
    ]
    at = console(api, monkeypatch, "availability", me=dev)
    no_errors(at)
    assert "Dev" in texts(at) and "is on call on days marked away" in texts(at)
    [button] = [b for b in at.button if b.key and b.key.startswith(f"away_cover_{dev}_")]
    button.click().run()
    no_errors(at)
    [request] = api.list_cover(1)
    assert (request["For"]["Id"], request["Reason"]) == (dev, "away")
    assert f"Cover #{request['Id']}" in texts(at)  # the shift now shows its request


def test_names_in_a_request_are_escaped(api, monkeypatch):  # noqa: F811
    odd = api.create_user("**Bold** [x](http://evil.example)", "<b>X</b>", "oddone")
    start, end = _shift_in(5)
    api.create_schedule(odd["Id"], start, end, layer=1)
    made = api.find_cover(1, start, end, note="*urgent* <script>")
    at = console(api, monkeypatch, "rota", me=odd["Id"])
    at.query_params["tab"] = "Cover"
    at.query_params["cover"] = str(made["Id"])
    at.run()
    no_errors(at)
    [label] = [e.label for e in at.expander if f"#{made['Id']}" in e.label]
    assert "\\*\\*Bold\\*\\*" in label and "\\[x\\]\\(http" in label  # a label is Markdown
    card = next(m.value for m in at.markdown if "needs cover" in m.value)
    assert "\\*\\*Bold\\*\\*" in card and "\\[x\\]\\(http" in card and "\\<b\\>" in card
    note = next(c.value for c in at.caption if "urgent" in c.value)
    assert "\\*urgent\\*" in note and "\\<script\\>" in note


def test_find_cover_from_a_clicked_shift_on_the_on_call_page(api, monkeypatch):  # noqa: F811
    chloe = user_id(api, "Chloé")
    start = _a_shift_of(api, chloe)  # secondary, 07:00 UTC for 13 h, in three days
    at = console(api, monkeypatch, "oncall", me=chloe)
    _click_bar(at, 2, chloe)
    assert not at.button(key="shift_cover").disabled  # her own shift
    at.button(key="shift_cover").click().run()
    no_errors(at)
    [request] = api.list_cover(1)
    assert (request["For"]["Id"], request["Layer"], request["Reason"]) == (chloe, 2, "asked")
    assert (datetime.fromisoformat(request["Start"]), datetime.fromisoformat(request["End"])) == (
        start, start + timedelta(hours=13),
    )  # fmt: skip
    assert f"Cover #{request['Id']}: asking" in texts(at)
    assert "_chosen_shift" not in at.session_state  # the panel closed
