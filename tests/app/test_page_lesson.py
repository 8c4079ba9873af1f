"""The guided lesson (pages/lesson.py) through AppTest: Next / Back and ?step=, and live views on the curated
examples that match the engine."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer import NTKInfluence
from ifexplorer.plots.curves import marker_times
from ifexplorer.plots.dynamics import side_labels

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("app_threads")  # the app's thread cap (tests/app/conftest.py)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _lesson(step=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    if step is not None:
        at.query_params["step"] = str(step)
    at.switch_page("pages/lesson.py").run()
    _ok(at)
    return at


def _step_title(at) -> str:
    return next(s.value for s in at.subheader if s.value[:1].isdigit())


def _worst_wrong_seven(ds, model) -> int:
    f = model.predict(ds.X_test)
    wrong = [i for i in range(len(f)) if ds.labels_test[i] == 0 and f[i] >= 0]
    return max(wrong, key=lambda i: (0.5 * (f[i] + 1) ** 2, -i))


def test_next_and_back_walk_the_steps_and_the_url_holds_the_step():
    at = _lesson()
    assert _step_title(at).startswith("1. Influence 101") and at.button(key="lesson_back_top").disabled
    at.button(key="lesson_next_top").click().run()
    _ok(at)
    assert _step_title(at).startswith("2. ") and at.query_params["step"] in ("2", ["2"])
    at.button(key="lesson_next_bottom").click().run()
    assert _step_title(at).startswith("3. ")
    at.button(key="lesson_back_top").click().run()
    assert _step_title(at).startswith("2. ")
    last = _lesson(10)
    assert _step_title(last).startswith("10. ") and last.button(key="lesson_next_top").disabled
    assert _step_title(_lesson("junk")).startswith("1. ")


def test_the_misclassified_seven_and_its_helpful_images_are_the_engines(reference):
    ds, model = reference
    i = _worst_wrong_seven(ds, model)
    at = _lesson(2)
    text = " ".join(m.value for m in at.markdown)
    f = model.predict(ds.X_test[i:i + 1])[0]
    assert "**True label:** 7" in text and "**Model says:** 9 :red[wrong]" in text and f"**f(x)** = {f:+.3f}" in text
    at = _lesson(3)
    top = model.top_influences(ds.X_test[i], ds.y_test[i], k=6)
    keys = [b.key for b in at.button if b.key and b.key.startswith("lesson_help_")]
    assert keys == [f"lesson_help_{j}" for j in top.helpful]
    at = _lesson(4)
    keys = [b.key for b in at.button if b.key and b.key.startswith("lesson_hurt_")]
    assert keys == [f"lesson_hurt_{j}" for j in top.harmful]
    at.button(key=keys[0]).click().run()  # an image opens in the reverse view
    assert any(t.value == "Training point" for t in at.title)


def test_removing_the_harmful_images_is_a_real_refit(reference):
    ds, model = reference
    i = _worst_wrong_seven(ds, model)
    top = model.top_influences(ds.X_test[i], ds.y_test[i], k=6)
    at = _lesson(5)
    at.slider(key="lesson_remove").set_value(2).run()
    _ok(at)
    keep = np.setdiff1d(np.arange(800), top.harmful[:2])
    f = NTKInfluence(reg=1e-3).fit(ds.X_train[keep], ds.y_train[keep]).predict(ds.X_test[i:i + 1])[0]
    shown = next(m for m in at.metric if m.label == "f(x) without 2").value
    assert shown == f"{f:+.3f}"
    # removing one image: the exact leave-one-out prediction of the full model
    at.slider(key="lesson_remove").set_value(1).run()
    loo = model.loo_predictions(ds.X_test[i:i + 1])[0, top.harmful[0]]
    assert next(m for m in at.metric if m.label == "f(x) without 1").value == f"{loo:+.3f}"


def test_the_flipped_label_steps_use_the_noisy_fit():
    at = _lesson(6)
    text = " ".join(m.value for m in at.markdown)
    assert "Among the top 40" in text and "⚠" in " ".join(c.value for c in at.caption)
    at = _lesson(7)
    _ok(at)
    assert any(m.label == "Test accuracy without it" for m in at.metric)


def test_the_training_time_step_marks_the_sliders_time_on_the_prediction_curve():
    at = _lesson(8)
    assert _step_title(at).startswith("8. Training time")

    def chart():
        return json.loads(next(c for c in at.get("echarts_chart") if c.proto.id.endswith("-lesson_path")).proto.spec)

    times = at.select_slider(key="lesson_t").options
    k = int(at.select_slider(key="lesson_t").value)
    assert len(marker_times(chart())) == 1 and side_labels(chart()) == ["f > 0 → 9", "f < 0 → 7"]
    at.select_slider(key="lesson_t").set_value(k + 3).run()
    _ok(at)
    x = [p[0] for p in chart()["series"][0]["data"]]
    assert marker_times(chart()) == [x[k + 3]] and len(x) == len(times)
