"""streamlit-drawable-canvas (pinned in requirements.txt) imports and renders inside a Streamlit app.

It is a custom component v2: its module registers the component when imported, which needs Streamlit's
component registry, so import it inside the app script (as here), never at the top of a module that plain
pytest imports without a runtime.
"""
from streamlit.testing.v1 import AppTest


def _app():
    import streamlit as st
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(stroke_width=18, stroke_color="#000000", background_color="", height=140, width=140,
                       drawing_mode="freedraw", return_image_data=True, key="own_digit")
    st.write("canvas ready:", type(result).__name__)


def test_drawable_canvas_imports_and_renders_in_an_app():
    at = AppTest.from_function(_app, default_timeout=60).run()
    assert not at.exception
    assert any("canvas ready: CanvasResult" in m.value for m in at.markdown)
