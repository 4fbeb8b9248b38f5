"""The team's on-call console: a Streamlit app over the daemon's API.

`app_streamlit.py` (at the repository root) wires the pages; each page is a module of `pages/`
with a `render()` function, and is also the script `st.Page` runs (so AppTest can switch to it):

- `oncall`: who is on call now and next, and the coming weeks' shifts;
- `incidents`: open incidents, acknowledge / assign / resolve, trigger a test incident;
- `availability`: everyone's unavailable, preferred and avoided days, and coverage;
- `planner`: plan a fair roster with the optimizer, compare it, publish it;
- `people`: add and edit users, send a test Slack message.

The app reads and writes live data only through `oncall_opt.client.Client`, at the address in
`ONCALL_API_URL` (default `http://127.0.0.1:8080`); `common` holds the client, the daemon-down
banner, the page guard (no stack traces reach the page) and the time-zone helpers.
"""
