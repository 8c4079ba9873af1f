"""benchmarks/findings.py on the real data: the paper's qualitative findings hold in what it prints."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of the output, as rows of cells (header and rule dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip("|").split("|")])
        elif current:
            tables.append(current[1:])
            current = []
    return tables


def test_findings_script_reproduces_the_papers_trends():
    out = subprocess.run([sys.executable, "benchmarks/findings.py"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    reg, density, _, share, detection = _tables(out)
    lam, mean, lower, upper = ([float(r[j]) for r in reg] for j in (0, 1, 3, 4))
    assert lam == sorted(lam) and mean == sorted(mean, reverse=True)  # IHVP error grows as λ shrinks
    assert all(lo <= m <= hi for lo, m, hi in zip(lower, mean, upper))  # Theorem 3
    assert len(density) == 4 and all(float(r[3]) < -0.3 for r in density)  # sparser → larger error
    assert all(float(r[4]) > float(r[5]) for r in density)
    early, final = float(share[0][2]), float(share[-1][2])
    assert share[-1][0] == "inf" and final > 0.3 > early  # flipped labels gain influence as training runs
    auc = [float(r[4]) for r in detection]
    assert len(auc) == 3 and min(auc[:2]) > 0.9 and auc[2] == 0.5  # self-influence finds flipped labels
