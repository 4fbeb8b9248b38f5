"""The console as `python -m oncall_opt.up` serves it from an installed package, where the
repository's `app_streamlit.py` is not around: the same wiring (see there). It lives outside
`console/` on purpose: Streamlit would take a `pages/` folder beside its script for pages of
its own, run without the sign-in gate."""

import streamlit as st

from oncall_opt.console import server

if __name__ == "__main__":  # a page view
    from oncall_opt.console.app import main

    main()
else:  # served
    app = st.App(__file__, routes=server.routes(), middleware=server.middleware())
