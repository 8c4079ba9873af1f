"""The app as a user drives it, through Streamlit's AppTest (whole-script reruns, no browser)."""
import base64
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ifexplorer import NTKInfluence
from ifexplorer.data import load_dataset
from ifexplorer.ui import datasets, engine

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/overview.py", "pages/gallery.py", "pages/dynamics.py", "pages/ihvp.py",
         "pages/network.py", "pages/influence101.py"]


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in " ".join(str(e.value) for e in at.error)


def _figure(at: AppTest, n: int) -> dict:
    """The n-th plotly chart's spec as a dict, typed arrays ({"dtype", "bdata"}) decoded to numpy."""
    return _decode(json.loads(at.get("plotly_chart")[n].proto.spec))


def _decode(obj):
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            return arr.reshape(obj["shape"]) if "shape" in obj else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def _reference_model(reg=1e-3):
    ds = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    return ds, NTKInfluence(reg=reg).fit(ds.X_train, ds.y_train)


def _table(at, key):
    """The top-k table (the page's only dataframe with a "kind" column); key names which one we mean."""
    tables = [df.value for df in at.dataframe if "kind" in df.value.columns]
    assert len(tables) == 1, f"expected one {key} table, found {len(tables)}"
    return tables[0]


def test_every_page_renders_on_default_data_and_fits_once():
    at = _app()
    before = engine.fit_count()
    assert [m.value for m in at.metric if m.label == "Training points"] == ["800"]
    for page in PAGES:
        at.switch_page(page).run()
        _ok(at)
        assert at.title, f"{page} shows no title"
    assert engine.fit_count() == before  # page switches reuse the cached model
    assert [s.key for s in at.select_slider] == ["reg"]  # the shared sidebar is on every page


def test_chosen_test_index_shows_exactly_the_engines_top_k():
    at = _app()
    at.switch_page("pages/gallery.py").run()
    at.number_input(key="test").set_value(17).run()
    at.slider(key="k").set_value(5).run()
    _ok(at)
    ds, model = _reference_model()
    top = model.top_influences(ds.X_test[17], ds.y_test[17], k=5)
    table = _table(at, "topk_table")
    np.testing.assert_array_equal(table.loc[table.kind == "helpful", "training #"], top.helpful)
    np.testing.assert_array_equal(table.loc[table.kind == "harmful", "training #"], top.harmful)
    np.testing.assert_allclose(table.loc[table.kind == "helpful", "influence"], top.helpful_scores, rtol=1e-9)
    # a grid button picks another image
    at.button(key="pick_3").click().run()
    assert at.number_input(key="test").value == 3
    top3 = model.top_influences(ds.X_test[3], ds.y_test[3], k=5)
    np.testing.assert_array_equal(_table(at, "topk_table").query("kind == 'helpful'")["training #"], top3.helpful)


def test_time_slider_changes_the_panel_to_the_exact_view_at_t():
    at = _app()
    at.switch_page("pages/dynamics.py").run()
    _ok(at)
    slider = at.select_slider(key="time")
    first = _table(at, "dyn_table")
    t = float(slider.options[3])
    slider.set_value(t).run()
    _ok(at)
    moved = _table(at, "dyn_table")
    assert not first.equals(moved)
    ds, model = _reference_model()
    top = model.at_time(t).top_influences(ds.X_test[0], ds.y_test[0], k=6)
    np.testing.assert_array_equal(moved.loc[moved.kind == "helpful", "training #"], top.helpful)


def test_label_noise_shows_flipped_share_and_detection():
    at = _app()
    at.number_input(key="n_train").set_value(200).run()
    at.number_input(key="n_test").set_value(50).run()
    at.slider(key="noise").set_value(0.2).run()
    at.switch_page("pages/dynamics.py").run()
    _ok(at)
    assert any("Figure 7" in h.value for h in at.subheader)
    assert any("ROC AUC" in c.value for c in at.caption)
    at.switch_page("pages/gallery.py").run()
    _ok(at)
    found = next(m for m in at.metric if m.label.startswith("Flipped labels among"))
    ds = load_dataset("mnist", classes=(7, 9), n_train=200, n_test=50, label_noise=0.2, seed=0)
    si = NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train).self_influence()
    assert found.value == f"{int(ds.noisy_train[np.argsort(-si, kind='stable')[:50]].sum())} / 50"


def test_lambda_changes_the_ihvp_plots():
    at = _app()
    at.switch_page("pages/ihvp.py").run()
    _ok(at)
    scatter, vs_reg = _figure(at, 0), _figure(at, 1)
    at.select_slider(key="reg").set_value(0.1).run()
    _ok(at)
    scatter2, vs_reg2 = _figure(at, 0), _figure(at, 1)
    ds, model = _reference_model(0.1)
    points, points2 = scatter["data"][1], scatter2["data"][1]
    np.testing.assert_allclose(points2["x"], model.influence(ds.X_test[:1], ds.y_test[:1])[0], rtol=1e-9)
    np.testing.assert_allclose(points2["y"], model.ihvp_influence(ds.X_test[:1], ds.y_test[:1])[0], rtol=1e-9)
    assert not np.allclose(points["y"], points2["y"])
    assert vs_reg["layout"]["shapes"][0]["x0"] == pytest.approx(1e-3)
    assert vs_reg2["layout"]["shapes"][0]["x0"] == pytest.approx(0.1)
    mean_err = float(next(m.value for m in at.metric if m.label == "mean error rate e_i"))
    assert mean_err == pytest.approx(model.ihvp_error().mean(), abs=5e-4)


def _zip_of_images(n_per_class=8) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, base in (("circles", 40), ("bars", 200)):
            for k in range(n_per_class):
                arr = np.clip(base + rng.normal(0, 30, (12, 12)), 0, 255).astype(np.uint8)
                png = io.BytesIO()
                Image.fromarray(arr).save(png, format="PNG")
                zf.writestr(f"{cls}/img{k}.png", png.getvalue())
        zf.writestr("README.txt", "not an image")
    return buf.getvalue()


def _choose_upload(at):
    at.selectbox(key="dataset").set_value(datasets.OWN).run()
    _ok(at)
    assert at.file_uploader, "no file uploader shown for own images"
    return at.file_uploader[0]


def test_small_zip_upload_is_fitted_and_shown():
    at = _app()
    _choose_upload(at).set_value(("shapes.zip", _zip_of_images(), "application/zip")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Training points"]) + 4 >= 12  # 16 images, default 80/20 split
    at.switch_page("pages/gallery.py").run()
    _ok(at)
    assert _table(at, "topk_table").shape[0] >= 1


def test_corrupt_upload_shows_an_error_not_an_exception():
    at = _app()
    _choose_upload(at).set_value(("broken.zip", b"this is not a zip archive", "application/zip")).run()
    _ok(at)
    assert at.error, "a corrupt archive must produce an error message"
    assert "What to change" in at.error[0].value


def test_too_many_points_is_a_friendly_error():
    at = _app()
    at.number_input(key="n_train").set_value(1000).run()  # 1000 + 200 > the 1000 digits that exist
    _ok(at)
    assert at.error and "What to change" in at.error[0].value
