"""Smoke test of the peers benchmark (benchmarks/peers): the tiny config through the peers' own venv.

Skipped where that venv does not exist (CI does not install the peers: bash benchmarks/peers/setup.sh builds it).
Besides running, it checks the damping mapping: pyDVL's and dattri's conjugate gradient solve the same system as our
exact IHVP, so their correlation with the retrains must equal ours."""
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / "benchmarks" / "peers" / ".venv" / "bin" / "python"
METHODS = ["ours_ntk", "ours_ihvp_exact", "captum_tracincp", "pydvl_cg", "kronfluence_ekfac", "dattri_cg",
           "pydvl_ekfac"]

pytestmark = pytest.mark.skipif(not VENV_PY.exists(), reason="peers venv not built (bash benchmarks/peers/setup.sh)")


@pytest.mark.timeout(1200)
def test_tiny_peers_run_writes_scored_rows(tmp_path):
    out = tmp_path / "peers.json"
    proc = subprocess.run([str(VENV_PY), str(ROOT / "benchmarks" / "peers" / "run_peers.py"), "--tiny",
                           "--methods", *METHODS, "--out", str(out), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=1150, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["schema"] == "ifexplorer.peers/1" and data["versions"]["captum"] == "0.9.0"
    (size,) = data["sizes"]
    assert size["config"]["n"] == 40 and size["config"]["n_retrained"] == 6
    rows = {r["method"]: r for r in size["rows"]}
    assert list(rows) == METHODS
    for name in METHODS[:-1]:
        r = rows[name]
        assert r["status"] == "ok", (name, r["error"])
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 0
        assert -1 <= r["pearson"] <= 1 and 0 <= r["sign_agreement"] <= 1 and -1 <= r["lds"] <= 1
    exact = rows["ours_ihvp_exact"]["pearson"]
    assert exact > 0.5
    assert abs(rows["pydvl_cg"]["pearson"] - exact) < 1e-3
    assert abs(rows["dattri_cg"]["pearson"] - exact) < 1e-3
    # a method that fails still gets its row, with the library's error
    assert rows["pydvl_ekfac"]["status"] == "failed" and rows["pydvl_ekfac"]["error"]
    assert {h["library"] for h in size["headline"]} == {"captum", "pyDVL", "kronfluence", "dattri"}
    assert (tmp_path / "peers.md").read_text().count("| ok |") == len(METHODS) - 1
