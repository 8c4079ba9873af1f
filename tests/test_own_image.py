"""prepare_own_image: drawings, uploads and photos preprocessed like the dataset (MNIST's recipe for gray data)."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ifexplorer import DataError, load_dataset
from ifexplorer.data.own_image import centre_of_mass, prepare_own_image


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", n_train=300, n_test=100)


def _seven(size=280, offset=(0, 0), scale=1.0, ink=255, paper=0, mode="L"):
    """A '7' drawn with PIL at an offset and a scale, ink on paper (mode "L" or "RGBA" with a clear background)."""
    im = Image.new(mode, (size, size), paper if mode == "L" else (0, 0, 0, 0))
    pts = [(x * scale + offset[0], y * scale + offset[1]) for x, y in [(20, 20), (110, 20), (50, 170)]]
    ImageDraw.Draw(im).line(pts, fill=ink if mode == "L" else (0, 0, 0, 255), width=max(2, int(14 * scale)))
    return im


def _ink_box(display):
    on = display > 25
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("offset, scale", [((0, 0), 1.0), ((140, 90), 0.5), ((10, 5), 1.5)])
def test_drawing_is_cropped_scaled_and_centred_like_mnist(mnist, offset, scale):
    features, display = prepare_own_image(_seven(offset=offset, scale=scale), mnist)
    assert display.shape == (28, 28) and display.dtype == np.uint8
    assert np.isclose(np.linalg.norm(features), 1.0, atol=1e-12)
    np.testing.assert_allclose(features, display.ravel() / np.linalg.norm(display.ravel().astype(float)))
    # MNIST's centre of mass is pixel (14, 14); whole-pixel shifts put ours within half a pixel of it
    assert np.all(np.abs(centre_of_mass(display) - 14.0) <= 0.5)
    assert max(_ink_box(display)) in (20, 21)  # the larger side fits MNIST's 20-px box (+1 for antialiasing)
    assert display.max() == 255 and display[0].max() == 0  # light ink on black, like MNIST


def test_dark_ink_on_light_paper_is_inverted_and_canvas_alpha_is_ink(mnist):
    _, light_ink = prepare_own_image(_seven(ink=255, paper=0), mnist)
    _, on_paper = prepare_own_image(_seven(ink=30, paper=230), mnist)  # a photo of pencil on paper
    _, canvas = prepare_own_image(np.asarray(_seven(mode="RGBA")), mnist)  # black strokes, transparent background
    cos = lambda a, b: a.ravel() @ b.ravel() / np.linalg.norm(a.ravel()) / np.linalg.norm(b.ravel())
    assert cos(light_ink.astype(float), on_paper.astype(float)) > 0.98
    assert cos(light_ink.astype(float), canvas.astype(float)) > 0.98


def test_png_bytes_and_uploaded_files_decode(mnist):
    buf = io.BytesIO()
    _seven(mode="RGBA").save(buf, format="PNG")

    class Upload:  # Streamlit's UploadedFile offers getvalue()
        def getvalue(self):
            return buf.getvalue()

    f_bytes, _ = prepare_own_image(buf.getvalue(), mnist)
    f_upload, _ = prepare_own_image(Upload(), mnist)
    np.testing.assert_array_equal(f_bytes, f_upload)
    jpeg = io.BytesIO()
    _seven(ink=20, paper=240).convert("RGB").resize((1600, 1600)).save(jpeg, format="JPEG", quality=85)
    f_jpeg, _ = prepare_own_image(jpeg.getvalue(), mnist)
    assert f_jpeg @ f_bytes > 0.9
    paper = _seven(ink=20, paper=240)
    deep = io.BytesIO()
    Image.fromarray(np.asarray(paper).astype(np.uint16) * 257).save(deep, format="PNG")  # 16-bit gray
    f_deep, _ = prepare_own_image(deep.getvalue(), mnist)
    np.testing.assert_allclose(f_deep, prepare_own_image(paper, mnist)[0], atol=1e-12)


def test_mnist_test_images_are_close_to_themselves(mnist):
    cos = np.array([prepare_own_image(img, mnist)[0] @ x for img, x in zip(mnist.images_test, mnist.X_test)])
    # an image whose centre of mass sits on a half pixel may move by one pixel; nearly all come back unchanged
    assert np.mean(cos > 0.9) >= 0.95 and np.median(cos) > 0.999


def test_colour_dataset_gets_a_centre_crop_resized_to_its_shape():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 8, 10, 3), dtype=np.uint8)
    ds = load_dataset("npz", data=_npz(images, np.arange(12) % 2), filename="rgb.npz")
    photo = np.zeros((60, 100, 3), np.uint8)
    photo[:, 20:80] = (200, 30, 10)  # the centre crop (60 × 75 for a 8 × 10 target) keeps the red block
    features, display = prepare_own_image(photo, ds)
    assert display.shape == (8, 10, 3) and np.isclose(np.linalg.norm(features), 1.0)
    assert tuple(display[4, 5]) == (200, 30, 10) and display[4, 0].sum() < display[4, 5].sum()


def test_a_dataset_of_dark_ink_on_white_gets_dark_ink_on_white():
    images = np.full((10, 16, 16), 255, np.uint8)
    for k in range(10):
        images[k, 3:13, 4 + k % 3:8 + k % 3] = 30  # dark bars, 10 px tall
    ds = load_dataset("npz", data=_npz(images, np.arange(10) % 2), filename="paper.npz")
    _, display = prepare_own_image(_seven(), ds)  # light ink on black in, the dataset's polarity out
    assert display.shape == (16, 16) and display[0].min() == 255 and display.min() == 0
    assert max(_ink_box(255 - display)) in (10, 11)  # the dataset's 10-px ink size


def _npz(X, y):
    buf = io.BytesIO()
    np.savez(buf, X=X, y=y)
    return buf.getvalue()


def test_bad_inputs_are_refused_with_clear_messages(mnist):
    with pytest.raises(DataError, match="draw something first"):
        prepare_own_image(np.zeros((200, 200, 4), np.uint8), mnist)  # an untouched canvas
    with pytest.raises(DataError, match="draw something first"):
        prepare_own_image(np.full((50, 50), 255, np.uint8), mnist)
    with pytest.raises(DataError, match="not a readable image"):
        prepare_own_image(b"certainly not a PNG", mnist)
    with pytest.raises(DataError, match="expected an array"):
        prepare_own_image(np.zeros((4, 4, 2), np.uint8), mnist)
    with pytest.raises(DataError, match="uint8 pixels"):
        prepare_own_image(np.full((4, 4), 7.5), mnist)
    with pytest.raises(DataError, match="PIL image"):
        prepare_own_image("seven.png", mnist)
    with pytest.raises(DataError, match="own images need an image dataset"):
        prepare_own_image(_seven(), load_dataset("iris"))
