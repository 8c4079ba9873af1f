"""Shared pytest fixtures."""
import pytest


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Every test starts with empty st.cache_data / st.cache_resource (cheap when unused)."""
    import sys

    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()
    yield
