"""The reverse view (pages/training_point.py) through AppTest: the numbers it shows are the engine's."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer import NTKInfluence
from ifexplorer.ui import CONFIG_KEY, experiment
from ifexplorer.ui.navigate import TEST_KEY, TRAIN_KEY
from ifexplorer.ui.widgets import fmt

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("app_threads")  # the app's thread cap (tests/app/conftest.py)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _open(j=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if j is not None:
        at.session_state[TRAIN_KEY] = j
    at.switch_page("pages/training_point.py").run()
    _ok(at)
    return at


def _metric(at, start):
    return next(m for m in at.metric if m.label.startswith(start))


def test_reverse_view_shows_the_exact_removal_and_the_test_images_it_helps(reference):
    ds, model = reference
    at = _open(37)
    assert at.number_input(key=TRAIN_KEY).value == 37
    effect = model.removal_effect(37, ds.X_test, ds.y_test, k=8)
    table = next(df.value for df in at.dataframe if "kind" in df.value.columns)
    np.testing.assert_array_equal(table.loc[table.kind == "helps", "test #"], effect.helps)
    np.testing.assert_array_equal(table.loc[table.kind == "hurts", "test #"], effect.hurts)
    np.testing.assert_allclose(table.loc[table.kind == "helps", "influence"], effect.helps_scores, rtol=1e-9)
    # the column of the influence matrix, from a slow reference (the full matrix)
    np.testing.assert_allclose(effect.influence, model.influence(ds.X_test, ds.y_test)[:, 37], rtol=1e-7, atol=1e-12)
    assert _metric(at, "Test accuracy without").value == f"{effect.accuracy_after:.2%}"
    assert _metric(at, "Mean test loss without").value == f"{effect.loss_after:.5f}"
    # and that retrained model is a real refit without point 37
    keep = np.arange(len(ds.X_train)) != 37
    refit = NTKInfluence(reg=1e-3).fit(ds.X_train[keep], ds.y_train[keep]).predict(ds.X_test)
    assert _metric(at, "Test accuracy without").value == f"{np.mean(refit * ds.y_test > 0):.2%}"
    si = model.self_influence()[37]
    assert _metric(at, "Self-influence").value == fmt(si)


def test_number_input_changes_the_point_and_a_button_opens_the_test_image(reference):
    ds, model = reference
    at = _open()
    assert at.number_input(key=TRAIN_KEY).value == 0
    at.number_input(key=TRAIN_KEY).set_value(5).run()
    _ok(at)
    effect = model.removal_effect(5, ds.X_test, ds.y_test, k=8)
    first = int(effect.helps[0])
    at.button(key=f"tp_helps_{first}").click().run()
    _ok(at)
    assert at.session_state[TEST_KEY] == first
    assert any(t.value == "Influence gallery" for t in at.title)
    assert at.number_input(key="test").value == first


def test_a_flipped_label_says_so():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.slider(key="noise").set_value(0.2).run()
    _ok(at)
    exp = experiment.get_experiment(at.session_state[CONFIG_KEY])
    j = int(np.flatnonzero(exp.noisy_mask())[0])
    at.session_state[TRAIN_KEY] = j
    at.switch_page("pages/training_point.py").run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "**flipped**" in text and f"true class is {exp.class_name(exp.data.true_labels_train[j])}" in text
    clean = int(np.flatnonzero(~exp.noisy_mask())[0])
    at.number_input(key=TRAIN_KEY).set_value(clean).run()
    assert "not flipped" in " ".join(m.value for m in at.markdown)
