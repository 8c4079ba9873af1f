"""ui.with_progress: a stoppable study keeps what it finished when Streamlit stops or reruns the script."""
import pytest
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from ifexplorer.ui.experiment import Experiment, ExperimentConfig, forget, with_progress
from ifexplorer.ui.widgets import fmt_rate


class _Bar:
    """Stands in for st.progress's element: the n-th update raises what Streamlit raises on a stop request."""

    def __init__(self, raise_on: int):
        self.updates, self.raise_on = 0, raise_on

    def progress(self, value, text=None):
        self.updates += 1
        if self.updates == self.raise_on:
            raise StopException()


def _study(calls):
    def compute(progress, should_stop=None):
        calls.append(1)
        done = []
        for step in range(10):
            if should_stop is not None and should_stop():
                break
            progress(step / 10, f"step {step}")
            done.append(step)  # the step in flight when the stop arrived still finishes
        return done
    return compute


@pytest.fixture
def bar(monkeypatch):
    bar = _Bar(raise_on=3)
    monkeypatch.setattr(st, "progress", lambda *a, **k: bar)
    return bar


def test_stopped_study_is_memoised_with_its_finished_steps_and_the_stop_goes_on(bar):
    exp, calls = Experiment(ExperimentConfig(), None, None, 0.0), []
    with pytest.raises(StopException):
        with_progress(exp, "study", "a study", _study(calls), stoppable=True)
    assert exp.peek("study") == [0, 1, 2]
    assert with_progress(exp, "study", "a study", _study(calls), stoppable=True) == [0, 1, 2]
    assert len(calls) == 1  # the rerun reuses the partial result
    forget(exp, "study")
    assert exp.peek("study") is None
    bar.updates = 10**6  # no further stop requests
    assert with_progress(exp, "study", "a study", _study(calls), stoppable=True) == list(range(10))
    assert len(calls) == 2


def test_a_study_that_cannot_stop_early_is_not_memoised_when_stopped(bar):
    exp, calls = Experiment(ExperimentConfig(), None, None, 0.0), []
    with pytest.raises(StopException):
        with_progress(exp, "study", "a study", _study(calls))
    assert exp.peek("study") is None and bar.updates == 3


@pytest.mark.parametrize("x, text", [(0.5, "0.500"), (0.99953, "0.9995"), (0.9999999, "0.9999999"),
                                     (1 - 1e-11, "1 − 1.0e-11"), (1.0, "1.000"), (0.0, "0.000")])
def test_rates_short_of_one_never_read_as_one(x, text):
    assert fmt_rate(x) == text
