"""IF Explorer: a router. The sidebar sets the shared experiment; each page lives in pages/."""
import streamlit as st

from ifexplorer.ui import CONFIG_KEY, UPLOAD_KEY
from ifexplorer.ui.sidebar import sidebar

st.set_page_config(page_title="IF Explorer", page_icon=":material/hub:", layout="wide")

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
