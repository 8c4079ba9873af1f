"""Links that carry the view, the test-image browser, traceable results and the fixed rough edges, driven
through Streamlit's AppTest (whole-script reruns) and checked against the engine."""
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer import NTKInfluence
from ifexplorer.data import load_dataset
from ifexplorer.experiments import browse
from ifexplorer.experiments import training_time as studies
from ifexplorer.plots.curves import marker_times
from ifexplorer.plots.dynamics import side_labels
from ifexplorer.ui import experiment, navigate
from ifexplorer.ui.text import md_escape

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("app_threads")  # the app's thread cap (tests/app/conftest.py)


def _app(params=None, page=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if params:
        at.query_params.update(params)
    if page:
        at.switch_page(page)
    at.run()
    _ok(at)
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _grid(at, prefix="browse_grid_"):
    """The indices on the thumbnail grid whose key starts with prefix (what its clicks return)."""
    return [c["index"] for c in _grid_data(at, prefix)["cells"]]


def _grid_data(at, prefix):
    """The data of the one thumbnail grid (ui.grid_component) whose key starts with prefix."""
    grids = [g for g in at.get("bidi_component") if f"-{prefix}" in g.proto.id]
    assert len(grids) == 1, [g.proto.id for g in at.get("bidi_component")]
    return json.loads(grids[0].proto.json)


def _topk(at, key="topk_table"):
    """The top-k table, its "As a table" expander opened first (ui.lazy_section: drawn only while open)."""
    at.session_state[f"{key}_open"] = True
    at.run()
    tables = [d.value for d in at.dataframe if "kind" in d.value.columns]
    assert tables
    return tables[0]


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", n_train=300, n_test=100, label_noise=0.1, seed=2)
    return ds, NTKInfluence(reg=0.01).fit(ds.X_train, ds.y_train)


LINK = {"ds": "digits", "n": "300", "m": "100", "reg": "0.01", "noise": "0.1", "seed": "2"}


def test_a_link_opened_in_a_fresh_session_shows_the_same_view(digits):
    ds, model = digits
    first = _app(LINK, "pages/gallery.py")
    first.segmented_control(key="browse_sort").set_value("loss").run()
    first.toggle(key="browse_mis").set_value(True).run()
    first.number_input(key="test").set_value(int(_grid(first)[2])).run()
    first.slider(key="k").set_value(4).run()
    _ok(first)
    link = dict(first.query_params)
    assert {k: link[k] for k in LINK} == LINK
    assert (link["sort"], link["mis"], link["k"]) == ("loss", "1", "4")
    second = _app({k: v[0] if isinstance(v, list) else v for k, v in link.items()}, "pages/gallery.py")
    assert second.session_state[experiment_config_key()] == first.session_state[experiment_config_key()]
    assert second.number_input(key="test").value == first.number_input(key="test").value
    assert second.slider(key="k").value == 4 and second.toggle(key="browse_mis").value
    assert _grid(second) == _grid(first)
    pd.testing.assert_frame_equal(_topk(second), _topk(first))
    i = second.number_input(key="test").value
    top = model.top_influences(ds.X_test[i], ds.y_test[i], k=4)
    np.testing.assert_array_equal(_topk(second).query("kind == 'helpful'")["training #"], top.helpful)


def experiment_config_key():
    from ifexplorer.ui import CONFIG_KEY

    return CONFIG_KEY


def test_a_link_with_bad_values_names_them_and_keeps_the_rest():
    at = _app({**LINK, "reg": "0.02", "depth": "5", "test": "7"}, "pages/gallery.py")
    warning = " ".join(w.value for w in at.warning)
    assert "reg" in warning and "depth" in warning and "0\\.02" in warning
    config = at.session_state[experiment_config_key()]
    assert (config.dataset, config.n_train, config.reg, config.depth) == ("digits", 300, 1e-3, 1)
    assert at.number_input(key="test").value == 7


def test_a_link_to_an_upload_this_session_lacks_says_so_and_shows_no_other_data():
    at = _app({"ds": "upload", "up": "0123456789abcdef", "file": "my *cats*.zip", "test": "5"}, "pages/gallery.py")
    assert not at.exception
    shown = [w.value for w in at.warning]
    assert len(shown) == 2 and all("does not have" in w and md_escape("my *cats*.zip") in w for w in shown)
    assert not at.get("plotly_chart") and not at.get("bidi_component") and not at.dataframe and not at.metric
    assert not at.get("imgs")
    assert at.session_state[experiment_config_key()] is None


def test_next_and_previous_follow_the_browsers_order_and_its_page(digits):
    ds, model = digits
    at = _app({**LINK, "sort": "loss"}, "pages/gallery.py")
    scores = browse.score_test_points(model.predict(ds.X_test), ds.labels_test)
    order = browse.select_test_points(scores, "loss")
    per_page = len(_grid(at))
    assert _grid(at) == list(order[:per_page])
    at.number_input(key="test").set_value(int(order[0])).run()
    at.button(key="next").click().run()
    assert at.number_input(key="test").value == order[1]
    at.button(key="prev").click().run()
    at.button(key="prev").click().run()  # wraps to the last of the list, and shows its page
    assert at.number_input(key="test").value == order[-1]
    last_page = (len(order) - 1) // per_page
    assert _grid(at) == list(order[last_page * per_page:])
    assert at.query_params["page"] == [str(last_page + 1)] or at.query_params["page"] == str(last_page + 1)


def test_class_filter_and_sort_match_the_engine(digits):
    ds, model = digits
    at = _app({**LINK, "sort": "margin", "cls": "3"}, "pages/gallery.py")
    scores = browse.score_test_points(model.predict(ds.X_test), ds.labels_test)
    order = browse.select_test_points(scores, "margin", classes=[3])
    assert _grid(at) == list(order[:len(_grid(at))]) and set(ds.labels_test[_grid(at)]) == {3}


def test_two_test_images_side_by_side(digits):
    ds, model = digits
    at = _app({**LINK, "test": "4"}, "pages/gallery.py")
    at.toggle(key="compare_on").set_value(True).run()
    at.number_input(key="compare_with").set_value(9).run()
    _ok(at)
    at.session_state["topk_tablea_open"] = at.session_state["topk_tableb_open"] = True  # open both "As a table"
    at.run()
    tables = [d.value for d in at.dataframe if "kind" in d.value.columns]
    assert len(tables) == 2
    for i, table in zip((4, 9), tables):
        top = model.top_influences(ds.X_test[i], ds.y_test[i], k=8)
        np.testing.assert_array_equal(table.query("kind == 'harmful'")["training #"], top.harmful)
    assert at.query_params["vs"] in ("9", ["9"])


def test_suspicious_list_of_any_length_with_sample_ids_and_suggested_labels(digits, monkeypatch):
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    ds, model = digits
    at = _app(LINK, "pages/gallery.py")
    at.session_state["more_suspicious"] = True  # open the section (drawn only while open), then the histogram's
    at.session_state["more_hist"] = True
    at.run()
    at.selectbox(key="susp_count").set_value(50).run()
    _ok(at)
    si = model.self_influence()
    order = np.argsort(-si, kind="stable")[:50]
    table = [d.value for d in at.dataframe if "suggested label" in d.value.columns][0]
    assert len(table) == 50
    np.testing.assert_array_equal(table["training #"], order)
    assert list(table["sample id"]) == list(ds.ids_train[order])
    np.testing.assert_allclose(table["self_influence"], si[order], rtol=1e-9)
    # suggested: the class the model retrained without the point gives it (a refit, not the closed form)
    for j in order[:3]:
        keep = np.arange(len(ds.X_train)) != j
        refit = NTKInfluence(reg=0.01).fit(ds.X_train[keep], ds.y_train[keep]).predict(ds.X_train[j:j + 1])[0]
        row = table[table["training #"] == j].iloc[0]
        assert row["suggested label"] == str(ds.class_names[int(np.argmax(refit))])
        assert row["label disputed"] == (int(np.argmax(refit)) != ds.labels_train[j])
    assert table["label disputed"].sum() >= 0.5 * table["flipped"].sum()  # most flipped labels are disputed
    assert list(table["flipped"]) == list(ds.noisy_train[order])
    button = [b for b in at.get("download_button") if "suspicious" in b.proto.url or "Download these" in b.proto.label]
    assert button and button[0].proto.label.startswith("Download these 50")
    csv = files[button[0].proto.url.rsplit("/", 1)[1].split(".")[0]]
    from_csv = pd.read_csv(io.StringIO(csv.decode() if isinstance(csv, bytes) else csv))
    assert list(from_csv["sample id"]) == list(ds.ids_train[order]) and "suggested label" in from_csv
    # every per-image CSV carries the sample ids too
    per_image = [b for b in at.get("download_button") if b.proto.url.endswith(".csv") and b is not button[0]]
    text = files[per_image[0].proto.url.rsplit("/", 1)[1].split(".")[0]]
    influence = pd.read_csv(io.StringIO(text.decode() if isinstance(text, bytes) else text))
    assert list(influence["sample id"]) == list(ds.ids_train)


def test_a_click_on_a_training_image_selects_it_for_the_reverse_view(tmp_path):
    at = _app(LINK, "pages/gallery.py")
    at.session_state["_open_training_point"] = 17  # what a click on a training grid's cell leaves (components.grid)
    at.run()
    assert at.session_state[navigate.TRAIN_KEY] == 17
    if not (Path(APP).parent / navigate.TRAINING_POINT_PAGE).exists():
        assert any("#17" in t.value for t in at.toast)


def test_no_status_box_stays_once_the_model_is_ready():
    at = _app({**LINK, "seed": "5"}, "pages/dynamics.py")
    labels = [e.label for e in at.get("expandable")] if at.get("expandable") else []
    assert not [s for s in labels if "ready" in s or "done" in s or "Preparing" in s], labels


def test_influence_101_at_minus_one_is_exact_removal():
    from ifexplorer import classroom

    at = _app(page="pages/influence101.py")
    at.radio(key="c101_point").set_value(1).run()
    at.slider(key="c101_eps").set_value(-1.0).run()
    _ok(at)
    x, y = classroom.example_points()
    keep = np.array([0, 2])
    z = np.stack([x[keep], np.ones(2)], 1)
    line = np.linalg.solve(z, y[keep])  # two points: the line through them
    m = {k.label: k.value for k in at.metric}
    assert m["slope θ₁(ε)"] == f"{line[0]:.4f}" and m["intercept θ₀(ε)"] == f"{line[1]:.4f}"
    assert any("removed" in i.value for i in at.info)


def test_dynamics_verdict_class_sides_link_time_and_play_range():
    ds = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    model = NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train)
    at = _app({"test": "11", "t": "0.05"}, "pages/dynamics.py")
    times = [float(t) for t in studies.time_grid(model, n_points=41)] + [math.inf]
    t = float(at.select_slider(key="time").value)
    finite = np.array(times[:-1])
    assert t == finite[np.argmin(np.abs(np.log(finite) - np.log(0.05)))]  # the link's t, snapped to the grid
    f = float(np.atleast_1d(model.at_time(t).predict(ds.X_test[11:12])[0])[0])
    ok = (f > 0) == (ds.labels_test[11] == 1)
    assert any(("correct" if ok else "wrong") in md.value for md in at.markdown)
    spec = json.loads([c for c in at.get("echarts_chart") if c.proto.id.endswith("-dyn_path")][0].proto.spec)
    assert any(m.get("yAxis") == 0 for m in spec["series"][0]["markLine"]["data"])  # the decision boundary
    assert marker_times(spec) == [t]  # the marker at the slider's t
    assert any("→ 9" in label for label in side_labels(spec))
    lo, hi = at.select_slider(key="dyn_range").value
    assert 0 < lo < hi == len(times) - 1  # the flat start is skipped by default
    at.select_slider(key="dyn_range").set_value([3, 5]).run()
    at.select_slider(key="time").set_value(times[5]).run()
    at.toggle(key="dyn_play").set_value(True).run()  # past the range's end: back to its start
    assert float(at.select_slider(key="time").value) == times[3]
    at.run()
    assert float(at.select_slider(key="time").value) == times[4]
    assert at.query_params["t"] in (f"{times[4]:.6g}", [f"{times[4]:.6g}"])


def _zip(names=("cats", "dogs"), n_per_class=8) -> bytes:
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, cls in enumerate(names):
            for j in range(n_per_class):
                png = io.BytesIO()
                Image.fromarray(np.clip(60 + 120 * k + rng.normal(0, 30, (12, 12)), 0, 255).astype(np.uint8)).save(
                    png, format="PNG")
                zf.writestr(f"{cls}/photo_{k}{j:02d}.png", png.getvalue())
    return buf.getvalue()


def test_an_upload_shows_its_file_names_in_captions_tables_and_its_link():
    from ifexplorer.ui import dataset_menu

    at = _app(page="pages/gallery.py")
    at.selectbox(key="dataset").set_value(dataset_menu.OWN).run()
    data = _zip()
    at.file_uploader[0].set_value(("pets.zip", data, "application/zip")).run()
    _ok(at)
    exp = experiment.get_experiment(at.session_state[experiment_config_key()], data)
    ids = exp.data.ids_train
    assert all(str(i).startswith(("cats/", "dogs/")) for i in ids)  # the archive's own paths
    cells = _grid_data(at, "topk_table_help")["cells"]
    members = [c["index"] for c in cells]
    captions = [line for c in cells for line in c["lines"] if line]
    from ifexplorer.ui.components import file_caption

    shown = [file_caption(str(ids[j]), 72) for j in members]
    assert all(Path(str(ids[j])).stem.endswith(c.lstrip("…")) for j, c in zip(members, shown))
    assert shown == [c for c in captions if c in shown] and len(set(shown)) == len(shown)
    table = _topk(at)
    assert list(table["sample id"]) == [str(ids[j]) for j in table["training #"]]
    assert experiment.sha256(data).startswith(at.query_params["up"][0] if isinstance(at.query_params["up"], list)
                                                   else at.query_params["up"])
    assert at.query_params["ds"] in ("upload", ["upload"])
