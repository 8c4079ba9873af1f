"""The own-image page (pages/own_image.py) through AppTest: an uploaded or photographed image gets exactly the
engine's answer for the same preprocessed vector. (The canvas is driven with the mouse in test_browser_classroom.)"""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ifexplorer import NTKInfluence
from ifexplorer.data import load_dataset
from ifexplorer.data.own_image import prepare_own_image

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("app_threads")  # the app's thread cap (tests/app/conftest.py)


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _paper_digit(ds, i: int) -> bytes:
    """Test image i as a user would photograph it: dark ink on white paper, 5× larger, off centre."""
    big = np.asarray(Image.fromarray(ds.images_test[i]).resize((140, 140), Image.Resampling.BILINEAR))
    page = np.full((220, 260), 255, np.uint8)
    page[30:170, 90:230] = 255 - big
    return _png(page)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/own_image.py").run()
    _ok(at)
    return at


def _table(at):
    tables = [df.value for df in at.dataframe if "kind" in df.value.columns]
    assert len(tables) == 1
    return tables[0]


def test_an_uploaded_image_gets_the_engines_answer_for_its_preprocessed_vector(reference):
    ds, model = reference
    at = _page()
    assert any("Draw, upload or photograph" in i.value for i in at.info)  # nothing yet
    at.segmented_control(key="own_source").set_value("Upload").run()
    png = _paper_digit(ds, 4)
    at.file_uploader(key="own_upload").set_value(("seven.png", png, "image/png")).run()
    _ok(at)
    features, _ = prepare_own_image(png, like=ds)
    f = model.predict(features[None])[0]
    predicted = int(f > 0)
    top = model.top_influences(features, 1.0 if predicted else -1.0, k=8)
    table = _table(at)
    np.testing.assert_array_equal(table.loc[table.kind == "helpful", "training #"], top.helpful)
    np.testing.assert_array_equal(table.loc[table.kind == "harmful", "training #"], top.harmful)
    np.testing.assert_allclose(table.loc[table.kind == "helpful", "influence"], top.helpful_scores, rtol=1e-9)
    text = " ".join(m.value for m in at.markdown)
    assert f"**Prediction:** {ds.class_names[predicted]}" in text and f"{f:+.3f}" in text
    # the map has the training points coloured by this influence, and the image as a star
    import json
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-own_map")).proto.spec)
    assert [t.get("name") for t in spec["data"]][-1] == "your image"

    # "What is it?": explain it as the other class
    other = ds.class_names[1 - predicted]
    at.selectbox(key="own_target").set_value(other).run()
    _ok(at)
    top_other = model.top_influences(features, -1.0 if predicted else 1.0, k=8)
    np.testing.assert_array_equal(_table(at).query("kind == 'helpful'")["training #"], top_other.helpful)


def test_a_camera_photo_is_answered_and_a_button_opens_the_reverse_view(reference):
    ds, model = reference
    at = _page()
    at.segmented_control(key="own_source").set_value("Camera").run()
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(_paper_digit(ds, 9))).convert("RGB").save(jpeg, format="JPEG", quality=90)
    at.camera_input(key="own_camera").upload("photo.jpg", jpeg.getvalue(), "image/jpeg").run()
    _ok(at)
    features, _ = prepare_own_image(jpeg.getvalue(), like=ds)
    f = model.predict(features[None])[0]
    top = model.top_influences(features, 1.0 if f > 0 else -1.0, k=8)
    table = _table(at)
    np.testing.assert_array_equal(table.loc[table.kind == "helpful", "training #"], top.helpful)
    j = int(top.helpful[0])
    at.button(key=f"own_helpful_{j}").click().run()
    _ok(at)
    assert any(t.value == "Training point" for t in at.title)
    assert at.number_input(key="train_index").value == j


def test_a_blank_upload_is_a_message_and_iris_says_it_has_no_images():
    at = _page()
    at.segmented_control(key="own_source").set_value("Upload").run()
    at.file_uploader(key="own_upload").set_value(("blank.png", _png(np.full((50, 50), 255, np.uint8)),
                                                  "image/png")).run()
    _ok(at)
    assert any("nothing is drawn" in w.value for w in at.warning)
    at.file_uploader(key="own_upload").set_value(("junk.png", b"not an image", "image/png")).run()
    _ok(at)
    assert any("not a readable image" in w.value for w in at.warning)
    at.selectbox(key="dataset").select_index(next(k for k, o in enumerate(at.selectbox(key="dataset").options)
                                                  if "iris" in o.lower())).run()
    _ok(at)
    assert any("needs an image dataset" in i.value for i in at.info)


def test_any_image_dataset_works_8x8_digits():
    at = _page()
    options = at.selectbox(key="dataset").options
    at.selectbox(key="dataset").select_index(next(k for k, o in enumerate(options) if o.startswith("8×8 digits"))).run()
    _ok(at)
    from ifexplorer.ui import CONFIG_KEY

    cfg = at.session_state[CONFIG_KEY]
    ds = load_dataset("digits", n_train=cfg.n_train, n_test=cfg.n_test, seed=cfg.seed)
    model = NTKInfluence(reg=cfg.reg).fit(ds.X_train, ds.y_train)
    at.segmented_control(key="own_source").set_value("Upload").run()
    png = _png(np.kron(ds.images_test[3], np.ones((12, 12), np.uint8)))  # 96 × 96, the dataset's polarity
    at.file_uploader(key="own_upload").set_value(("three.png", png, "image/png")).run()
    _ok(at)
    features, display = prepare_own_image(png, like=ds)
    assert display.shape == (8, 8)
    f = model.predict(features[None])[0]
    target = np.eye(ds.n_classes)[int(np.argmax(f))]
    top = model.top_influences(features, target, k=8)
    np.testing.assert_array_equal(_table(at).query("kind == 'helpful'")["training #"], top.helpful)
    assert f"**Prediction:** {ds.class_names[int(np.argmax(f))]}" in " ".join(m.value for m in at.markdown)
