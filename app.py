"""IF Explorer: a router (ifexplorer/ui/router.py). The sidebar sets the shared experiment; pages/ holds the pages."""
import streamlit as st

from ifexplorer.ui import CONFIG_KEY, UPLOAD_KEY, router
from ifexplorer.ui.sidebar import sidebar
from ifexplorer.ui.widgets import favicon

# A local favicon: material page icons would otherwise be fetched from fonts.gstatic.com as favicons.
st.set_page_config(page_title="IF Explorer", page_icon=favicon(), layout="wide")
page = router.navigation()
st.session_state[CONFIG_KEY], st.session_state[UPLOAD_KEY] = sidebar()
router.run(page)
