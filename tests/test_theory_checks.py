"""docs/theory_checks.py: every identity derived in docs/theory.md holds numerically (plain numpy, float64)."""
import importlib.util
from pathlib import Path

CHECKS = Path(__file__).resolve().parents[1] / "docs" / "theory_checks.py"


def test_every_identity_of_the_theory_notes_holds(capsys):
    spec = importlib.util.spec_from_file_location("theory_checks", CHECKS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main() == 0, capsys.readouterr().out
    assert len(module.RESULTS) >= 40 and all(module.RESULTS)
