"""The committed peers benchmark (docs/peers.json, benchmarks/peers/run_peers.py) on the Network check page.

Read from the JSON, never recomputed in the browser: one table per study (n, width), one sentence per row on why
the method lands where it does.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import streamlit as st

from .text import md_escape

PEERS_JSON = Path(__file__).resolve().parents[2] / "docs" / "peers.json"
SCHEMA = "ifexplorer.peers/1"

# method family -> why it lands where it does (theory §n where the maths is)
_WHY = {
    "ntk": "Exact leave-one-out of the kernel model (theory §4): no Hessian inverse, so no 1 − λQ_ii error; what is "
           "left is the finite-width gap between the NTK and the trained network (theory §7).",
    "exact": "The exact inverse Hessian, the best any IHVP method can do, still carries the 1 − λQ_ii factor of "
             "theory §5: each point's effect is shrunk by its own leverage, however exactly the system is solved.",
    "explicit": "Forms the p × p Hessian (p = width · d parameters) explicitly: exact where it fits, out of time or "
                "memory at these widths; where it runs it inherits the 1 − λQ_ii error of theory §5.",
    "cg": "Solves the same linear system iteratively: with enough iterations it reaches the exact IHVP and its "
          "1 − λQ_ii error (theory §5); stopped early (small default iteration counts) it lands below.",
    "lissa": "Stochastic Neumann series: converges at rate 1 − λ/scale, so with a small λ and the default depth it "
             "stops short of the solve; sampling noise on top of the 1 − λQ_ii error (theory §5).",
    "arnoldi": "Keeps only the top Hessian eigen-directions, while H⁻¹ is dominated by the small, λ-regularised "
               "ones where leave-one-out effects live: a low-rank inverse misses much of the effect.",
    "ekfac": "Kronecker-factored, eigenvalue-corrected Hessian per layer: an approximation of Jᵀ J on top of the "
             "IHVP's 1 − λQ_ii error (theory §5).",
    "ekfac_ce": "Documented for cross-entropy classification only; the squared-loss network here is outside its scope.",
    "datainf": "Swaps the inverse of the layer Fisher for an average of rank-one inverses (closed form): accurate "
               "only when λ dominates each gradient's own norm.",
    "tracin": "No Hessian at all: gradient dot products at the trained weights. It ranks by gradient alignment and "
              "ignores both the curvature and each point's leverage.",
    "trak": "Randomly projected gradients in a linearised-model regression: the projection and TRAK's (1 − p) "
            "weighting add noise to a Gauss–Newton IHVP.",
}
_FAMILY = {
    "ours_ntk": "ntk", "ours_ihvp_exact": "exact", "ours_lissa": "lissa", "ours_cg": "cg",
    "captum_naive": "explicit", "captum_arnoldi": "arnoldi", "captum_tracincp": "tracin",
    "pydvl_direct": "explicit", "pydvl_cg": "cg", "pydvl_lissa": "lissa", "pydvl_arnoldi": "arnoldi",
    "pydvl_ekfac": "ekfac_ce", "kronfluence_ekfac": "ekfac",
    "dattri_explicit": "explicit", "dattri_cg": "cg", "dattri_lissa": "lissa", "dattri_arnoldi": "arnoldi",
    "dattri_datainf": "datainf", "dattri_trak": "trak",
}


def load_peers(path: str | Path | None = None) -> dict | None:
    """The benchmark's JSON, or None when there is none (or it is not a peers result)."""
    path = Path(path) if path is not None else PEERS_JSON
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if data.get("schema") == SCHEMA else None


def why(row: dict) -> str:
    """One sentence on why the method lands where it does (a failed row: what stopped it)."""
    base = _WHY.get(_FAMILY.get(row.get("method", ""), ""), "")
    if row.get("status") != "ok":
        err = str(row.get("error") or "no result").splitlines()[0][:160]
        return f"Did not finish ({err}). " + (base if _FAMILY.get(row.get("method")) in ("explicit", "ekfac_ce")
                                              else "")
    return base


def peer_table(size: dict) -> pd.DataFrame:
    """The rows of one study as a table: library, method, status, seconds, peak MB, scores (the reasons: why_list)."""
    rows = []
    for r in size["rows"]:
        ok = r.get("status") == "ok"
        rows.append({"library": r["library"], "method": r["label"], "status": r["status"],
                     "seconds": r.get("seconds") if ok else None,
                     "peak memory (MB)": r.get("peak_rss_mb"),
                     "Pearson": r.get("pearson"), "Spearman": r.get("spearman"),
                     "sign agreement": r.get("sign_agreement"), "LDS": r.get("lds")})
    return pd.DataFrame(rows)


def headline_sentences(size: dict) -> list[str]:
    """'captum: best TracInCP, Pearson 0.80 vs our 0.95, 23× our time' per library."""
    out = []
    for h in size.get("headline", []):
        if not h.get("best"):
            out.append(f"{h['library']}: {h.get('note', 'no result')}")
            continue
        out.append(f"{h['library']}: best is {h['best']}, Pearson {_num(h['pearson'])} against our "
                   f"{_num(h['ours_pearson'])}, in {h['time_ratio']:.1f}× our time")
    return out


# shown rounded (the table keeps the measured values): MB to the unit, seconds to 2 decimals, scores to 3; a
# method without a number (failed, out of time or memory) shows "—"
FORMATS = {"seconds": "{:.2f}", "peak memory (MB)": "{:,.0f}",
           **dict.fromkeys(("Pearson", "Spearman", "sign agreement", "LDS"), "{:.3f}")}


def styled_table(size: dict):
    """peer_table(size) for reading: numbers rounded, missing ones "—", text escaped (st.table renders markdown
    in cells). Nine short columns: it fits a 1280 px window without a scroll."""
    table = peer_table(size)
    text = {c: md_escape for c in table.columns if c not in FORMATS}
    return table.style.format({**FORMATS, **text}, na_rep="—").hide(axis="index")


def why_list(size: dict) -> str:
    """Markdown: one bullet per row, "**library · method**: why it lands where it does" (escaped)."""
    return "\n".join(f"- **{md_escape(r['library'])} · {md_escape(r['label'])}**: {md_escape(why(r))}"
                     for r in size["rows"])


def peers_panel(path: str | Path | None = None) -> None:
    """Draw the committed peer comparison (docs/peers.json); a note when the file is missing."""
    st.subheader("How the influence libraries compare")
    data = load_peers(path)
    if data is None:
        st.info("No peers benchmark committed yet: run `bash benchmarks/peers/setup.sh`, then "
                "`benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py`.")
        return
    versions = ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items() if v)
    st.markdown(md_escape(
        f"The same trained network and data for every library, scored against real leave-one-out retraining "
        f"(read from docs/peers.json; timings on a shared 2-core CPU). Versions: {versions}."))
    for size in data.get("sizes", []):
        c = size["config"]
        st.markdown(md_escape(f"n = {c['n']}, width {c['width']} ({c['parameters']:,} parameters), "
                              f"{c['m']} test points, {c['n_retrained']} retrained training points, λ = {c['reg']}"))
        st.table(styled_table(size))
        st.markdown("**Why each method lands where it does**  \n" + why_list(size))
        for line in headline_sentences(size):
            st.caption(md_escape(line))


def _num(v) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"
