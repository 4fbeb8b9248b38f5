"""The console's pages, one module per page; each is also the script `st.Page` runs."""
