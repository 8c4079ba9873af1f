"""Shared pytest fixtures."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_eigendecomposition_cache(tmp_path_factory):
    """Tests persist eigendecompositions in a temporary directory, not in ~/.cache/ifexplorer."""
    import os

    from ifexplorer.spectral_store import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("eigh-cache"))
    yield
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Every test starts with empty st.cache_data / st.cache_resource (cheap when unused)."""
    import sys

    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()
    yield
