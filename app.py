"""The recengine dashboard: ``streamlit run app.py``.

Navigation over the pages in ``pages/``, each with a stable URL path. Every page starts with
:func:`pages._ui.frame` (page settings, the first-start bootstrap, the sidebar), so a page also renders when
Streamlit runs its file directly: its legacy ``pages/`` mode does that on a fresh server, and so does AppTest.
URL paths equal the file names for the same reason.
"""

import streamlit as st

from pages import _ui

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/database:", url_path="data"),
    st.Page("pages/train.py", title="Train & load", icon=":material/model_training:", url_path="train"),
    st.Page("pages/diagnostics.py", title="Diagnostics", icon=":material/monitoring:", url_path="diagnostics"),
    st.Page("pages/new_articles.py", title="New articles", icon=":material/post_add:", url_path="new_articles"),
    st.Page("pages/cold_start.py", title="Cold start", icon=":material/person_add:", url_path="cold_start"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/recommend.py", title="Recommend", icon=":material/recommend:", url_path="recommend"),
]

page = st.navigation(PAGES)
with _ui.boundary(f"showing the {page.title} page"):
    page.run()
