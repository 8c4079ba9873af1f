"""run_peers.py --append (benchmarks/peers): studies of several runs in one peers JSON, each with its own command.
Runs in the main suite: the merge touches no peer library."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_peers():
    spec = importlib.util.spec_from_file_location("run_peers", ROOT / "benchmarks" / "peers" / "run_peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _size(n, width, tag):
    return dict(config=dict(n=n, width=width, parameters=width * 785, m=50, n_retrained=10, reg=0.1), rows=[],
                headline=[], tag=tag)


def test_append_keeps_earlier_studies_with_their_own_command_and_replaces_a_size_run_again(run_peers, tmp_path):
    out = tmp_path / "peers.json"
    old = dict(schema=run_peers.SCHEMA, command="python run_peers.py --sizes 200x1024", versions={"torch": "1"},
               settings=dict(timeout=100.0, mem_mb=6000.0), sizes=[_size(200, 1024, "old"), _size(950, 1024, "old")])
    out.write_text(json.dumps(old))
    sizes = run_peers.earlier_sizes(out)
    assert [s["run"]["command"] for s in sizes] == [old["command"]] * 2
    new = {**_size(950, 1024, "new"), "run": dict(command="python run_peers.py --sizes 1000x1024:10 --append")}
    merged = run_peers.merge_size(sizes, new)
    assert [(s["config"]["n"], s["tag"]) for s in merged] == [(200, "old"), (950, "new")]
    merged = run_peers.merge_size(merged, {**_size(200, 4096, "new"), "run": new["run"]})
    assert [(s["config"]["n"], s["config"]["width"]) for s in merged] == [(200, 1024), (950, 1024), (200, 4096)]


def test_append_without_an_earlier_file_starts_empty_and_refuses_another_kind_of_json(run_peers, tmp_path):
    assert run_peers.earlier_sizes(tmp_path / "missing.json") == []
    other = tmp_path / "validation.json"
    other.write_text(json.dumps({"schema": "ifexplorer.validation/1", "sizes": []}))
    with pytest.raises(SystemExit, match="not a peers result"):
        run_peers.earlier_sizes(other)
