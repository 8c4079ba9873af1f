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
from ifexplorer.cache import BUDGET_ENV
from ifexplorer.data import fashion, load_dataset
from ifexplorer.experiments import training_time as studies
from ifexplorer.ui import dataset_menu, experiment
from ifexplorer.ui.text import md_escape
from ifexplorer.ui.widgets import fmt

APP = str(Path(__file__).resolve().parents[2] / "app.py")
# the references here run with the app's thread cap (fast on a shared 2-core box); later files get theirs back
pytestmark = pytest.mark.usefixtures("app_threads")
PAGES = [spec.script for spec in __import__("ifexplorer.ui.router", fromlist=["PAGES"]).PAGES]  # every page


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in " ".join(str(e.value) for e in at.error)


def _figure(at: AppTest, n) -> dict:
    """A plotly chart's spec as a dict (n: its position, or its key), typed arrays ({"dtype", "bdata"}) decoded."""
    charts = at.get("plotly_chart")
    if isinstance(n, str):
        charts = [c for c in charts if c.proto.id.endswith(f"-{n}")]
        assert len(charts) == 1, f"expected one chart with key {n!r}, found {len(charts)}"
        n = 0
    return _decode(json.loads(charts[n].proto.spec))


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


def _open(at, *sections):
    """Open the page's lazily drawn sections (ui.lazy_section: expanders drawn only while open), as a click does."""
    for key in sections:
        at.session_state[key] = True
    at.run()


def _table(at, key):
    """The top-k table (the page's only dataframe with a "kind" column); key names which one we mean. Its
    "As a table" expander is opened first (its content is drawn only while open)."""
    if not (f"{key}_open" in at.session_state and at.session_state[f"{key}_open"]):
        assert not [df for df in at.dataframe if "kind" in df.value.columns], "the table is drawn while closed"
        _open(at, f"{key}_open")
    tables = [df.value for df in at.dataframe if "kind" in df.value.columns]
    assert len(tables) == 1, f"expected one {key} table, found {len(tables)}"
    return tables[0]


def test_every_page_renders_on_default_data_and_fits_once():
    at = _app()
    before = experiment.fit_count()
    assert [m.value for m in at.metric if m.label == "Training points"] == ["800"]
    for page in PAGES:
        at.switch_page(page).run()
        _ok(at)
        assert at.title, f"{page} shows no title"
        assert [e.label for e in at.expander].count("What am I looking at?") == 1, page
    assert experiment.fit_count() == before  # page switches reuse the cached model
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
    # the browser's Next (→) picks the next image of its list (sorted by index here)
    at.button(key="next").click().run()
    assert at.number_input(key="test").value == 18
    top3 = model.top_influences(ds.X_test[18], ds.y_test[18], k=5)
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
    early = float(slider.options[0])  # at the first time the output is tiny: shown with its sign and digits
    slider.set_value(early).run()
    f = float(np.ravel(model.at_time(early).predict(ds.X_test[:1]))[0])
    assert abs(f) < 1e-2 and [c.value for c in at.caption if c.value.startswith("f_t(x) = ")] == [
        f"f_t(x) = {fmt(f)}"]
    store = experiment._store()  # the page prefetched every finite slider time's pole data in batched products
    exps = [store.peek(k) for k in store.stored_keys() if k[0] == "experiment"]
    assert any(e.peek("prefetch") == len(slider.options) - 1 for e in exps)


def test_label_noise_shows_flipped_share_and_detection():
    at = _app()
    at.number_input(key="n_train").set_value(200).run()
    at.number_input(key="n_test").set_value(50).run()
    at.slider(key="noise").set_value(0.2).run()
    at.switch_page("pages/dynamics.py").run()
    _ok(at)
    assert not any("Figure 7" in h.value for h in at.subheader)  # its section is closed: not computed, not drawn
    _open(at, "more_turnover")
    assert any("Figure 6" in h.value for h in at.subheader) and any("Figure 7" in h.value for h in at.subheader)
    assert any("ROC AUC" in c.value for c in at.caption)
    charts = {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("echarts_chart")}
    ds = load_dataset("mnist", classes=(7, 9), n_train=200, n_test=50, label_noise=0.2, seed=0)
    model = NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train)
    times = studies.time_grid(model, n_points=41)
    k = int(at.slider(key="dyn_k").value)
    share = studies.noisy_share(model, ds.X_test[:20], ds.y_test[:20], ds.noisy_train, times, k)
    drawn = {line["name"]: line["data"] for line in charts["dyn_noisy"]["series"]}
    np.testing.assert_allclose([y for _, y in drawn["share of flipped labels in the top-k"]], share.share, atol=1e-12)
    np.testing.assert_allclose([x for x, _ in drawn["test loss"]], times, rtol=1e-15)
    track = studies.topk_tracking(model, ds.X_test[:20], ds.y_test[:20], times, k)
    drawn = {line["name"]: line["data"] for line in charts["dyn_turnover"]["series"]}
    np.testing.assert_allclose([y for _, y in drawn["helpful + harmful (mean)"]], track.mean_turnover, atol=1e-12)
    at.switch_page("pages/gallery.py").run()
    _ok(at)
    assert not [m for m in at.metric if m.label.startswith("Flipped labels")]  # its section is closed: not drawn
    _open(at, "more_suspicious")
    at.switch_page("pages/dynamics.py").run()  # another page, then back: the section is open as it was left
    at.switch_page("pages/gallery.py").run()
    _ok(at)
    shown = {m.label: m.value for m in at.metric}
    ds = load_dataset("mnist", classes=(7, 9), n_train=200, n_test=50, label_noise=0.2, seed=0)
    si = NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train).self_influence()
    for share in (0.05, 0.1, 0.2):  # recall of the flipped labels among the top share of the self-influence ranking
        top = np.argsort(-si, kind="stable")[:round(share * 200)]
        recall = ds.noisy_train[top].sum() / ds.noisy_train.sum()
        assert shown[f"Flipped labels in the top {share:.0%}"] == f"{recall:.0%}"
    flipped, clean = si[ds.noisy_train], si[~ds.noisy_train]  # ROC AUC: P(a flipped point outranks a clean one)
    auc = np.mean([(f > c) + 0.5 * (f == c) for f in flipped for c in clean])
    assert shown["ROC AUC"] == f"{auc:.2f}"


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
    at.selectbox(key="dataset").set_value(dataset_menu.OWN).run()
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


def test_a_tiny_upload_still_gets_every_page_and_the_network_check_uses_all_of_it():
    at = _app()
    _choose_upload(at).set_value(("tiny.zip", _zip_of_images(n_per_class=6), "application/zip")).run()
    _ok(at)
    n = int({m.label: m.value for m in at.metric}["Training points"])
    assert n <= 10  # 12 images, 80 / 20
    for page in ("gallery", "dynamics", "ihvp", "network"):
        at.switch_page(f"pages/{page}.py").run()
        _ok(at)
    assert {m.label: m.value for m in at.metric}["Training points used"] == str(n)
    assert at.number_input(key="net_n_retrain").max == n


def test_corrupt_upload_shows_an_error_not_an_exception():
    at = _app()
    _choose_upload(at).set_value(("broken.zip", b"this is not a zip archive", "application/zip")).run()
    _ok(at)
    assert at.error, "a corrupt archive must produce an error message"
    assert "What to change" in at.error[0].value
    assert [s.label for s in at.status] == ["Could not prepare upload"]  # the progress box is not left mid-load


def test_too_many_points_is_a_friendly_error():
    at = _app()
    at.number_input(key="n_train").set_value(1000).run()  # 1000 + 200 > the 1000 digits that exist
    _ok(at)
    assert at.error and "What to change" in at.error[0].value


def test_overview_numbers_are_the_engines():
    at = _app()
    ds, model = _reference_model()
    metrics = {m.label: m.value for m in at.metric}
    train = np.mean((model.train_predictions() > 0) == (ds.y_train > 0))
    test = np.mean((model.predict(ds.X_test) > 0) == (ds.y_test > 0))
    lo, hi = model.kernel_spectrum()
    assert metrics["Train accuracy"] == f"{train:.1%}" and metrics["Test accuracy"] == f"{test:.1%}"
    assert metrics["λ_min(H)"] == f"{lo:.3g}" and metrics["λ_max(H)"] == f"{hi:.3g}"


def _grid_data(at: AppTest, key: str) -> dict:
    """The data of the one thumbnail grid (ui.grid_component) whose key starts with `key`."""
    grids = [g for g in at.get("bidi_component") if f"-{key}" in g.proto.id]
    assert len(grids) == 1, [g.proto.id for g in at.get("bidi_component")]
    return json.loads(grids[0].proto.json)


def _grid(at) -> list:
    """The test indices on the browser's page (what its thumbnails' clicks return)."""
    return [c["index"] for c in _grid_data(at, "browse_grid_")["cells"]]


def test_gallery_filters_histogram_complexity_and_csv(monkeypatch):
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    from ifexplorer.experiments.complexity import group_complexity

    files = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    at = _app()
    at.switch_page("pages/gallery.py").run()
    at.number_input(key="test").set_value(4).run()
    _ok(at)
    ds, model = _reference_model()
    pred, true = model.predict(ds.X_test) > 0, ds.y_test > 0
    per_page = len(_grid(at))
    assert _grid(at) == list(range(per_page)) and per_page >= 20
    at.toggle(key="browse_mis").set_value(True).run()
    assert _grid(at) == list(np.flatnonzero(pred != true)[:per_page]) and len(_grid(at)) >= 1
    at.toggle(key="browse_mis").set_value(False).run()
    at.selectbox(key="browse_class").set_value(1).run()  # class index 1: the digit 9
    assert _grid(at) == list(np.flatnonzero(true)[:per_page])
    row = model.influence(ds.X_test[4:5], ds.y_test[4:5])[0]
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-hist")]  # closed: not drawn
    _open(at, "more_hist")
    helpful, harmful = _figure(at, "hist")["data"]
    assert helpful["y"].sum() == (row > 0).sum() and harmful["y"].sum() == (row <= 0).sum()
    bars = _figure(at, "groups")["data"][0]  # Figure 5, groups by influence on the whole test set
    groups = group_complexity(model, model.influence(ds.X_test, ds.y_test).sum(0), 10)
    np.testing.assert_allclose(bars["y"], groups.complexity, rtol=1e-9)
    at.radio(key="groups_scope").set_value("this test image").run()
    np.testing.assert_allclose(_figure(at, "groups")["data"][0]["y"], group_complexity(model, row, 10).complexity,
                               rtol=1e-9)
    csv_id = at.download_button[0].proto.url.rsplit("/", 1)[1].split(".")[0]
    import pandas as pd

    table = pd.read_csv(io.StringIO(files[csv_id].decode() if isinstance(files[csv_id], bytes) else files[csv_id]))
    assert at.download_button[0].proto.url.endswith(".csv") and len(table) == 800
    np.testing.assert_allclose(table["influence"], row, rtol=1e-9)
    np.testing.assert_allclose(table["self_influence"], model.self_influence(), rtol=1e-9)


def test_play_button_steps_the_time_slider():
    at = _app()
    at.switch_page("pages/dynamics.py").run()
    options = list(at.select_slider(key="time").options)  # formatted times, "∞ (fully trained)" last

    def position() -> int:
        return options.index(f"{float(at.select_slider(key='time').value):.3g}")

    start = position()
    at.toggle(key="dyn_play").set_value(True).run()
    _ok(at)
    assert position() == start + 1
    at.run()
    assert position() == start + 2
    at.toggle(key="dyn_play").set_value(False).run()
    assert position() == start + 2


def test_ihvp_on_the_mixture_uses_the_true_density():
    from scipy.stats import spearmanr

    at = _app()
    at.selectbox(key="dataset").set_value(dataset_menu.CHOICES[3].label).run()
    at.switch_page("pages/ihvp.py").run()
    _ok(at)
    ds = load_dataset("mixture", n_train=600, n_test=200, seed=0)
    model = NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train)
    fig = _figure(at, "ihvp_vs_density")
    assert "true log-density" in fig["layout"]["xaxis"]["title"]["text"]
    points = fig["data"][0]
    np.testing.assert_allclose(points["x"], np.log(ds.density_train), rtol=1e-12)
    np.testing.assert_allclose(points["y"], model.ihvp_error(), rtol=1e-9)
    rho = next(m.value for m in at.metric if m.label.startswith("Spearman"))
    assert rho == f"{spearmanr(np.log(ds.density_train), model.ihvp_error()).statistic:.2f}"


def test_clicked_point_is_the_training_index_in_customdata():
    from types import SimpleNamespace

    from ifexplorer.ui import selected_training_index

    assert selected_training_index(SimpleNamespace(selection={"points": [{"customdata": 7, "x": 0.1}]})) == 7
    assert selected_training_index(SimpleNamespace(selection={"points": [{"customdata": [12]}]})) == 12
    assert selected_training_index(SimpleNamespace(selection={"points": []})) is None
    assert selected_training_index(None) is None


def test_influence_101_slider_shows_the_weighted_fit_and_its_tangent():
    from ifexplorer import classroom

    at = _app()
    at.switch_page("pages/influence101.py").run()
    at.radio(key="c101_point").set_value(2).run()
    at.slider(key="c101_eps").set_value(1.0).run()
    _ok(at)
    x, y = classroom.example_points()
    theta = classroom.weighted_fit(x, y, np.array([1.0, 1.0, 2.0]))
    theta0 = classroom.weighted_fit(x, y, np.ones(3))
    infl = classroom.parameter_influence(x, y)[2]
    m = {k.label: k.value for k in at.metric}
    assert m["slope θ₁(ε)"] == f"{theta[0]:.4f}" and m["intercept θ₀(ε)"] == f"{theta[1]:.4f}"
    assert m["tangent prediction θ₁"] == f"{theta0[0] + infl[0]:.4f}"
    curve = _figure(at, "c101_curve")
    assert curve["layout"]["shapes"][0]["x0"] == pytest.approx(1.0)


def test_the_app_caps_torch_threads_and_says_so(monkeypatch):
    import torch

    monkeypatch.setenv(experiment.THREADS_ENV, "1")
    at = _app()
    assert experiment.configure_threads() == 1 and torch.get_num_threads() == 1
    assert any("CPU (1 thread)" in c.value for c in at.caption)


def test_sidebar_states_the_memory_the_chosen_size_needs():
    from ifexplorer.device import format_bytes

    at = _app()
    need = NTKInfluence(reg=1.0).estimate_fit_bytes(800, 784)
    assert any(f"**{format_bytes(need)}** and **" in c.value and "for 800 points × 784 features" in c.value
               for c in at.caption)
    at.selectbox(key="dataset").set_value(dataset_menu.CHOICES[2].label).run()  # 8×8 digits: 1000 × 64
    _ok(at)
    assert at.number_input(key="n_train").value == 1000 == dataset_menu.CHOICES[2].n_train  # its own default size
    need = NTKInfluence(reg=1.0).estimate_fit_bytes(1000, 64)
    assert any(f"**{format_bytes(need)}** and **" in c.value and "for 1,000 points × 64 features" in c.value
               for c in at.caption)


def test_a_size_over_the_memory_budget_is_refused_with_the_size_that_fits(monkeypatch):
    from ifexplorer.ui import sidebar

    monkeypatch.setenv(BUDGET_ENV, "100MB")
    at = _app()
    largest = sidebar.largest_fit(784)
    stored = experiment._stored_bytes
    assert stored(largest, 784) <= 100e6 < stored(largest + 1, 784) and 2000 < largest < 3000
    assert any(f"at most **{largest:,}** training points fit" in c.value for c in at.caption)
    at.selectbox(key="dataset").set_value(_fashion_label()).run()
    at.number_input(key="n_train").set_value(largest + 1).run()
    assert any(f"Choose at most {largest:,}" in e.value for e in at.sidebar.error)
    assert not at.exception


def _fashion_label() -> str:
    return next(c.label for c in dataset_menu.choices() if c.name == "fashion_mnist" and c.classes != "all")


@pytest.mark.skipif(fashion.missing() is not None, reason=f"Fashion-MNIST is not installed ({fashion.INSTALL})")
def test_fashion_mnist_entry_shows_the_overview():
    at = _app()
    at.selectbox(key="dataset").set_value(_fashion_label()).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert (at.number_input(key="n_train").value, at.number_input(key="n_test").value) == (800, 200)
    assert [m.value for m in at.metric if m.label == "Training points"] == ["800"]
    assert any(md_escape("T-shirt/top, Shirt") in c.value for c in at.caption)
    cells = _grid_data(at, "overview_sample")["cells"]  # the sample of training images: a clickable grid
    captions = [line for c in cells for line in c["lines"] if line]  # short captions are padded with ""
    assert len(cells) == 10
    names = [c.split(" · ")[-1] for c in captions if not c.startswith("#") or " · " in c]  # "#j · name" or 2 lines
    assert len(names) == 10 and set(names) <= {"T-shirt/top", "Shirt"}, captions  # literal names


def test_fashion_mnist_not_installed_shows_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv(fashion.DIR_ENV, str(tmp_path))  # an empty folder: as without the package
    at = _app()
    label = _fashion_label()
    assert label.endswith(f"(not installed: {fashion.INSTALL})")
    at.selectbox(key="dataset").set_value(label).run()
    _ok(at)
    assert any(md_escape(fashion.INSTALL) in e.value and md_escape(tmp_path) in e.value for e in at.error), [
        e.value for e in at.error]


def test_an_idx_folder_in_the_data_root_is_a_menu_entry(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "kmnist"
    folder.mkdir()
    for prefix, n in (("train", 60), ("t10k", 20)):
        images, labels = rng.integers(1, 256, size=(n, 6, 5), dtype=np.uint8), np.arange(n) % 10
        head = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 6, 5))
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(head + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + n.to_bytes(4, "big")
                                                              + labels.astype(np.uint8).tobytes())
    monkeypatch.setenv(dataset_menu.DATA_ROOT_ENV, str(tmp_path))
    at = _app()
    at.selectbox(key="dataset").set_value("kmnist: 0 vs 1 (IDX files, 80 images)").run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert [m.value for m in at.metric if m.label == "Training points"] == ["12"]
    assert any(md_escape("idx:kmnist") in c.value and md_escape("classes 0, 1") in c.value for c in at.caption)


def _fitted_experiments(filename: str) -> list:
    store = experiment._store()
    return [store.peek(k) for k in store.stored_keys() if k[0] == "experiment" and k[1].filename == filename]


def test_uploads_are_resized_by_default_and_the_memory_estimate_counts_their_real_size():
    from ifexplorer.device import format_bytes
    from ifexplorer.ui import sidebar

    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in ("wide", "flat"):
            for k in range(8):
                png = io.BytesIO()
                Image.fromarray(rng.integers(1, 256, (100, 80), dtype=np.uint8)).save(png, format="PNG")
                zf.writestr(f"{cls}/{k}.png", png.getvalue())
    at = _app()
    _choose_upload(at).set_value(("big.zip", buf.getvalue(), "application/zip")).run()
    _ok(at)
    assert at.selectbox(key=sidebar.RESIZE_KEY).value == sidebar.DEFAULT_RESIZE == 64
    need = NTKInfluence(reg=1.0).estimate_fit_bytes(13, 64 * 51)  # 16 images, 13 to train; 100×80 → 64×51
    assert any(f"**{format_bytes(need)}** and **" in c.value
               and "for 13 training points × 3,264 features (64×51 after resizing)" in c.value
               for c in at.caption), [c.value for c in at.caption]
    fitted = _fitted_experiments("big.zip")
    assert [e.config.resize for e in fitted] == [64] and fitted[0].data.image_shape == (64, 51)
    at.selectbox(key=sidebar.RESIZE_KEY).set_value(0).run()  # "original size"
    _ok(at)
    fitted = {e.config.resize: e for e in _fitted_experiments("big.zip")}
    assert fitted[None].data.image_shape == (100, 80)


# ------------------------------------------------------------------ routing (ifexplorer/ui/router.py)
def test_a_deep_link_in_streamlits_pages_folder_mode_still_gets_the_router(monkeypatch):
    """A fresh server process runs its first sessions in Streamlit's legacy pages/-folder mode, where /gallery runs
    pages/gallery.py alone. Should a Streamlit upgrade drop that mode (or rename its switch), this test fails and
    the router's workaround can go; should it change how st.navigation leaves it, the page loses its sidebar."""
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory"), "Streamlit changed its pages/ mode: revisit ui/router.py"
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)  # as in a process no session has run in yet
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/gallery.py")  # before any run: a deep link, /gallery
    at.query_params["test"] = "3"
    at.run()
    _ok(at)
    assert PagesManager.uses_pages_directory is False  # st.navigation switched the process over
    assert [t.value for t in at.title] == ["Influence gallery"]
    assert [s.key for s in at.select_slider] == ["reg"]  # the shared sidebar: the run went through app.py
    assert at.number_input(key="test").value == 3
    assert not [i.value for i in at.info if "Choose your images" in i.value]


def test_a_page_run_outside_the_router_says_so_instead_of_rerunning_for_ever(tmp_path):
    from ifexplorer.ui import router

    for spec in router.PAGES:  # st.navigation checks that the page files exist
        (tmp_path / spec.script).parent.mkdir(exist_ok=True)
        (tmp_path / spec.script).write_text("")
    solo = tmp_path / "solo.py"
    solo.write_text("import streamlit as st\nfrom ifexplorer.ui import router\n\nrouter.ensure_routed()\n"
                    "st.markdown('past the router')\n")
    at = AppTest.from_file(str(solo), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "streamlit run app.py" in at.error[0].value
    assert not [m for m in at.markdown if "past the router" in m.value]


# ------------------------------------------------------------------ user strings are literal text
PWN, CLICK = "![pwn](http:127.0.0.1:8739)", "[click me](javascript:alert(1))"


def _zip_with_classes(names, n_per_class=6) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, cls in enumerate(names):
            for j in range(n_per_class):
                png = io.BytesIO()
                Image.fromarray(np.clip(60 + 120 * k + rng.normal(0, 30, (12, 12)), 0, 255).astype(np.uint8)).save(
                    png, format="PNG")
                zf.writestr(f"{cls}/*img*{j}.png", png.getvalue())
    return buf.getvalue()


def _markdown_strings(at) -> list:
    """Every string the app handed to Streamlit as markdown: text elements, captions, alerts, metric labels
    and values, image captions."""
    out = [e.value for kind in ("markdown", "caption", "error", "info", "warning", "subheader", "title")
           for e in getattr(at, kind)]
    out += [s for m in at.metric for s in (m.label, m.value)]
    out += [img.caption for el in at.get("imgs") for img in el.proto.imgs]
    return out


def test_class_and_file_names_reach_markdown_escaped():
    from ifexplorer.ui import md_escape

    at = _app()
    _choose_upload(at).set_value((f"{PWN} shapes.zip", _zip_with_classes([PWN, CLICK]), "application/zip")).run()
    _ok(at)
    for page in ("overview", "gallery", "dynamics", "ihvp"):  # the sidebar names the upload on every page
        at.switch_page(f"pages/{page}.py").run()
        _ok(at)
        shown = _markdown_strings(at)
        assert not [s for s in shown if "](" in s.replace("\\](", "")], page  # no link or image syntax left
        assert any(md_escape(PWN) in s or md_escape(CLICK) in s for s in shown), page
    at.switch_page("pages/overview.py").run()
    assert any(f"**{md_escape(f'zip:{PWN} shapes.zip')}**" in c.value and md_escape(CLICK) in c.value
               for c in at.caption)  # the upload's name, both classes
    at.switch_page("pages/gallery.py").run()
    filters = list(at.selectbox(key="browse_class").options)  # plain-text options: the names as they are
    assert filters[0] == "all classes" and sorted(filters[1:]) == sorted((PWN, CLICK))


def test_an_upload_error_shows_its_file_name_literally():
    from ifexplorer.ui import md_escape

    at = _app()
    _choose_upload(at).set_value((f"{PWN}.zip", b"not a zip archive", "application/zip")).run()
    _ok(at)
    assert at.error and md_escape(PWN) in at.error[0].value and PWN not in at.error[0].value


def test_full_size_work_runs_on_every_core_and_small_work_on_half(monkeypatch):
    import os

    import torch

    monkeypatch.delenv(experiment.THREADS_ENV, raising=False)
    cores = os.cpu_count() or 1
    try:
        assert experiment.configure_threads(100) == max(1, cores // 2) == torch.get_num_threads()
        assert experiment.configure_threads(experiment.LARGE_N) == cores == torch.get_num_threads()
        monkeypatch.setenv(experiment.THREADS_ENV, "1")  # the setting wins at any size
        assert experiment.configure_threads(experiment.LARGE_N) == 1
    finally:
        monkeypatch.delenv(experiment.THREADS_ENV, raising=False)
        experiment.configure_threads()  # back to the default for small models
