"""The floor of a page visit: a Streamlit page with a title, a paragraph and one sidebar widget, no data, no charts.
benchmarks/bench_page_cost.py --floor measures what a fresh visit of it costs chromium, beside the app's pages."""
import streamlit as st

st.sidebar.selectbox("Dataset", ["one", "two"])
st.title("Streamlit floor")
st.markdown("A page with nothing of IF Explorer on it: what any Streamlit app costs a new visitor's browser.")
