"""IF Explorer: a router. The sidebar sets the shared experiment; each page lives in pages/."""
import streamlit as st

from ifexplorer.ui import CONFIG_KEY, UPLOAD_KEY, ensure_router
from ifexplorer.ui.sidebar import sidebar
from ifexplorer.ui.widgets import favicon

# A local favicon: material page icons would otherwise be fetched from fonts.gstatic.com as favicons.
st.set_page_config(page_title="IF Explorer", page_icon=favicon(), layout="wide")
ensure_router()  # pages/ would otherwise put the first run in Streamlit's legacy v1 multipage mode

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/gallery.py", title="Influence gallery", icon=":material/photo_library:"),
    st.Page("pages/dynamics.py", title="Training dynamics", icon=":material/timeline:"),
    st.Page("pages/ihvp.py", title="IHVP error", icon=":material/scatter_plot:"),
    st.Page("pages/network.py", title="Network check", icon=":material/neurology:"),
    st.Page("pages/influence101.py", title="Influence 101", icon=":material/school:"),
]

page = st.navigation(PAGES)
st.session_state[CONFIG_KEY], st.session_state[UPLOAD_KEY] = sidebar()
page.run()
