"""The recengine dashboard: ``streamlit run app.py``.

Navigation over the pages in ``pages/`` (see :func:`pages._ui.pages`), each with a stable URL path. Every page
starts with :func:`pages._ui.frame`: page settings, the first-start bootstrap and the sidebar.
"""

import streamlit as st

from pages import _ui

page = st.navigation(_ui.pages())
with _ui.routed(), _ui.boundary(f"showing the {page.title} page"):
    page.run()
