"""The team's on-call console: `streamlit run app_streamlit.py`, or `python -m oncall_opt.up` to
start the daemon with it. The daemon's address comes from ONCALL_API_URL (default
http://127.0.0.1:8080).

`streamlit run` imports this file and serves `app`: the pages (this same file, run by Streamlit
for each view, calls `main()`), the sign-in route and the security headers
(`oncall_opt/console/server.py`). The pages live in `oncall_opt/console/pages/`."""

import streamlit as st

from oncall_opt.console import server

if __name__ == "__main__":  # a page view
    from oncall_opt.console.app import main

    main()
else:  # served
    app = st.App(__file__, routes=server.routes(), middleware=server.middleware())
