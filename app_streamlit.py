"""The team's on-call console: `streamlit run app_streamlit.py`, or `python -m oncall_opt.up` to
start the daemon with it. The pages live in `oncall_opt/console/pages/`; the daemon's address
comes from ONCALL_API_URL (default http://127.0.0.1:8080)."""

from oncall_opt.console.app import main

main()
