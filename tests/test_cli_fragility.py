"""`python -m ifexplorer fragility …` at tiny sizes: JSON + figures + table, bad settings refused before any
work, Ctrl-C keeps the finished cells (exit 130)."""
import numpy as np
import pytest
import torch

from ifexplorer import cli
from ifexplorer.cli import main
from ifexplorer.experiments import fragility as F

TINY = ["--dataset", "iris", "--classes", "all", "--n-train", "12", "--n-test", "2", "--examined", "2",
        "--widths", "8", "--regs", "1", "--lds-subsets", "4", "--lds-test", "6", "--lissa-depth", "5",
        "--cg-iters", "5", "--threads", "1"]


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_command_line_writes_json_figures_and_the_table(tmp_path, capsys):
    code = main(["fragility", *TINY, "--depths", "1", "2", "--out", str(tmp_path)])
    assert code == 0
    res = F.load_study(tmp_path / "fragility.json")
    assert [(c.depth, c.width, c.reg) for c in res.cells] == [(1, 8, 1.0), (2, 8, 1.0)]
    assert res.config["extra"] == {"dataset": "iris", "classes": "all"} and res.config["n_train"] == 12
    assert all(c.status == "done" and c.completed.all() for c in res.cells)
    assert set(res.cells[0].estimates) == set(F.METHODS)
    for name in ("heatmap_ntk_reg1", "heatmap_pbrf_reg1", "ihvp_error_vs_depth", "retention", "scatter_L2_w8_reg1"):
        assert (tmp_path / f"{name}.html").exists(), name
    out = capsys.readouterr().out
    assert "| L | width | λ |" in out and "| 2 | 8 | 1 | 2 |" in out and "wrote" in out
    assert torch.get_num_threads() >= 1


def test_ctrl_c_keeps_the_finished_cells_and_exits_130(tmp_path, monkeypatch, capsys):
    from ifexplorer.experiments import fragility_cell

    real, calls = fragility_cell.measure_cell, []

    def interrupted_second_time(*args, **kw):
        calls.append(kw["depth"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(fragility_cell, "measure_cell", interrupted_second_time)
    code = main(["fragility", *TINY, "--depths", "1", "3", "--no-plots", "--out", str(tmp_path)])
    assert code == 130
    res = F.load_study(tmp_path / "fragility.json")
    assert res.interrupted and [c.depth for c in res.cells] == [1]
    assert np.isfinite(res.cells[0].actual).all()
    assert "INTERRUPTED" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--depths", "0"], "depth must be an integer ≥ 1; got 0"),
    (["--widths", "31"], "widths must be even: the doubling"),
    (["--regs", "-1"], "regs must be a positive number"),
    (["--examined", "50"], "n_examined must be at most the 12 training points; got 50"),
    (["--lds-subsets", "1"], "lds_subsets_ntk must be 0 (skip) or at least 2"),
])
def test_bad_settings_exit_with_a_message(tmp_path, capsys, argv, message):
    code = main(["fragility", *TINY, *argv, "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ")
    assert not (tmp_path / "fragility.json").exists()


def test_non_integer_depth_is_refused_by_the_parser(capsys):
    assert main(["fragility", "--depths", "2.5", "--out", "x"]) == 2
    assert "invalid int value: '2.5'" in capsys.readouterr().err


def test_help_lists_the_study_settings(capsys):
    assert main(["fragility", "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: ifexplorer fragility") and "--examined" in shown and "--net-lds-subsets" in shown
    assert cli._parser().parse_args(["fragility", "--out", "x"]).depths == [1, 2, 3, 4]
