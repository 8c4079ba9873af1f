"""The training-set map (pages/map.py) through AppTest: coordinates and colours are the engine's, per colouring.
(Clicking and lassoing points is in test_browser_classroom.py: AppTest cannot send plotly selections.)"""
import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer.data import load_dataset
from ifexplorer.experiments.embedding import embed

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("app_threads")  # the app's thread cap (tests/app/conftest.py)


def _decode(obj):
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            return arr.reshape(obj["shape"]) if "shape" in obj else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def _map(at) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-map_chart")]
    assert len(charts) == 1
    return _decode(json.loads(charts[0].proto.spec))


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("pages/map.py").run()
    _ok(at)
    return at


def _points(spec) -> tuple[np.ndarray, np.ndarray, list]:
    """(customdata, xy, traces) of the map's data traces (the ring of the chosen point excluded)."""
    traces = [t for t in spec["data"] if t.get("name") != "chosen"]
    idx = np.concatenate([np.asarray(t["customdata"]) for t in traces]).astype(int)
    xy = np.column_stack([np.concatenate([np.asarray(t[a], float) for t in traces]) for a in "xy"])
    return idx, xy, traces


def test_pca_map_coloured_by_the_chosen_test_images_influence(reference):
    ds, model = reference
    at = _page()
    at.number_input(key="test").set_value(11).run()
    _ok(at)
    idx, xy, traces = _points(_map(at))
    np.testing.assert_array_equal(idx, np.arange(800))
    np.testing.assert_allclose(xy, embed(ds.X_train, "pca", cache=False), atol=1e-9)
    np.testing.assert_allclose(np.asarray(traces[0]["marker"]["color"], float),
                               model.influence(ds.X_test[11:12], ds.y_test[11:12])[0], rtol=1e-9, atol=1e-15)
    assert "influence on test #11" in _map(at)["layout"]["title"]["text"]


def test_other_colourings_show_self_influence_labels_and_flips(reference):
    ds, model = reference
    at = _page()
    at.segmented_control(key="map_colour").set_value("self_influence").run()
    _ok(at)
    idx, _, traces = _points(_map(at))
    np.testing.assert_allclose(np.asarray(traces[0]["marker"]["color"], float), model.self_influence(), rtol=1e-9)
    at.segmented_control(key="map_colour").set_value("label").run()
    _ok(at)
    idx, _, traces = _points(_map(at))
    assert [t["name"] for t in traces] == list(ds.class_names)
    for t, c in zip(traces, range(2)):
        np.testing.assert_array_equal(np.asarray(t["customdata"]), np.flatnonzero(ds.labels_train == c))
    at.segmented_control(key="map_colour").set_value("flipped").run()
    _ok(at)
    assert [t["name"] for t in _points(_map(at))[2]] == ["label kept"]  # no label noise: nothing flipped


def test_tsne_runs_on_request_and_is_the_cached_embedding(tmp_path, monkeypatch):
    monkeypatch.setenv("IFEXPLORER_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.number_input(key="n_train").set_value(150).run()
    at.switch_page("pages/map.py").run()
    at.radio(key="map_layout").set_value("tsne").run()
    _ok(at)
    assert any("Compute the t-SNE map" in i.value for i in at.info) and not at.get("plotly_chart")
    at.button(key="map_tsne").click().run()
    _ok(at)
    from ifexplorer.ui import CONFIG_KEY

    cfg = at.session_state[CONFIG_KEY]
    ds = load_dataset("mnist", classes=(7, 9), n_train=cfg.n_train, n_test=cfg.n_test, seed=0)
    idx, xy, _ = _points(_map(at))
    np.testing.assert_array_equal(idx, np.arange(150))
    np.testing.assert_allclose(xy, embed(ds.X_train, "tsne", seed=0), atol=1e-9)  # the disk cache's copy
    assert list(tmp_path.iterdir())
