"""ifexplorer.ui.url_state without a browser: parsing a link into session state, writing values back."""
import math

import pytest

from ifexplorer.ui import dataset_menu, url_state


def _restore(params):
    state = {}
    problems = url_state.restore(params, state)
    return state, problems


def test_a_full_link_sets_every_widget_key():
    state, problems = _restore({"ds": "mnist:all", "n": "1200", "m": "300", "reg": "0.01", "depth": "2",
                                "noise": "0.15", "seed": "7", "test": "12", "k": "5", "sort": "margin", "cls": "3",
                                "mis": "1", "page": "2", "vs": "40", "t": "0.5", "dk": "4", "train": "9",
                                "size": "128"})
    assert problems == []
    assert state["dataset"] == "MNIST, all 10 digits"
    assert (state["n_train"], state["n_test"], state["reg"], state["depth"]) == (1200, 300, 0.01, 2)
    assert state["noise"] == 0.15 and state["seed"] == 7 and state["thumb_size"] == 128
    assert (state["test"], state["k"], state["browse_sort"], state["browse_class"], state["browse_mis"]) == \
        (12, 5, "margin", 3, True)
    assert (state["browse_page"], state["compare_with"], state["time"], state["dyn_k"], state["train_index"]) == \
        (2, 40, 0.5, 4, 9)


def test_restore_runs_once_per_session():
    state = {}
    url_state.restore({"test": "3"}, state)
    state["test"] = 8
    assert url_state.restore({"test": "3"}, state) == [] and state["test"] == 8


@pytest.mark.parametrize("name,value", [("reg", "0.002"), ("depth", "5"), ("noise", "0.07"), ("noise", "0.9"),
                                        ("seed", "-1"), ("n", "5"), ("n", "abc"), ("m", "99999"), ("test", "-2"),
                                        ("k", "0"), ("sort", "random"), ("t", "-1"), ("mis", "yes"), ("size", "400"),
                                        ("ds", "imagenet"), ("t", "nan")])
def test_a_bad_value_is_named_and_ignored(name, value):
    state, problems = _restore({name: value})
    assert [p.name for p in problems] == [name] and value in problems[0].text()
    widget_keys = {**url_state.PAGE_KEYS, "n": "n_train", "m": "n_test", "size": "thumb_size", "ds": "dataset"}
    assert widget_keys.get(name, name) not in state


def test_every_builtin_dataset_round_trips_through_its_slug():
    for choice in dataset_menu.BUILTIN:
        assert url_state.choice_for_slug(url_state.dataset_slug(choice)) == choice


def test_an_upload_link_asks_for_that_upload_and_matches_only_its_bytes():
    sha = "ab12" * 16
    state, problems = _restore({"ds": "upload", "up": sha[:16], "file": "cats <b>.zip"})
    assert problems == [] and state["dataset"] == dataset_menu.OWN and state["own_how"] == "Upload an archive"
    assert url_state.wanted_upload(state) == (sha[:16], "cats <b>.zip")
    message = url_state.missing_upload(url_state.wanted_upload(state))
    assert "does not have" in message and "<b>" not in message and "ab12ab12" in message
    assert url_state.upload_matches("ffff" + sha[4:], dict(state)) is False
    assert url_state.upload_matches(sha, state) is True and url_state.wanted_upload(state) is None
    assert url_state.upload_matches(sha, state) is None  # asked once: later uploads are the user's own


def test_publish_writes_only_changes_and_removes_none():
    params = {"test": "3", "k": "8"}
    url_state.publish(params, test=4, k=8, vs=None, t=math.inf, reg=0.001)
    assert params == {"test": "4", "k": "8", "t": "inf", "reg": "0.001"}
    url_state.publish(params, t=None)
    assert "t" not in params
    url_state.keep_only({"test"}, params)
    assert params == {"test": "4", "reg": "0.001"}  # sidebar keys stay
    with pytest.raises(ValueError, match="unknown page parameters"):
        url_state.publish_page(bogus=1)


def test_published_values_parse_back_to_the_same_values():
    params = {}
    choice = dataset_menu.BUILTIN[2]
    url_state.publish(params, ds=url_state.dataset_slug(choice), n=300, m=100, reg=0.03, depth=3, noise=0.25,
                      seed=11, t=0.000123456789)
    state, problems = _restore(params)
    assert problems == []
    assert (state["dataset"], state["n_train"], state["reg"], state["depth"], state["noise"], state["seed"]) == \
        (choice.label, 300, 0.03, 3, 0.25, 11)
    assert state["time"] == pytest.approx(0.000123456789, rel=1e-5)
