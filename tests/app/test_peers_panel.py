"""The peers table of the Network check page (ifexplorer/ui/peers.py), drawn from a peers JSON (AppTest)."""
import json

from streamlit.testing.v1 import AppTest

from ifexplorer.ui import peers
from ifexplorer.ui.text import md_escape

ROWS = [
    dict(method="ours_ntk", library="ours", label="NTK influence (closed form)", status="ok", seconds=0.5,
         peak_rss_mb=600.0, pearson=0.95, spearman=0.9, sign_agreement=0.97, lds=0.8, error=None),
    dict(method="dattri_cg", library="dattri", label="IFAttributorCG", status="ok", seconds=5.0, peak_rss_mb=900.0,
         pearson=0.7, spearman=0.6, sign_agreement=0.8, lds=0.5, error=None),
    dict(method="captum_naive", library="captum", label="NaiveInfluenceFunction", status="timeout", seconds=None,
         peak_rss_mb=2000.0, error="killed: over the 100 s time budget | *not markdown*"),
]


def _data():
    size = dict(config=dict(n=200, width=1024, parameters=802816, m=50, n_retrained=30, reg=0.1), rows=ROWS)
    size["headline"] = [dict(library="dattri", best="IFAttributorCG", pearson=0.7, ours_pearson=0.95, seconds=5.0,
                             ours_seconds=0.5, time_ratio=10.0),
                        dict(library="captum", best=None, note="no method of this library finished")]
    return dict(schema=peers.SCHEMA, versions={"torch": "2.14.1", "captum": "0.9.0"}, sizes=[size])


def _panel(path):
    from ifexplorer.ui.peers import peers_panel
    peers_panel(path)


def test_panel_draws_one_row_per_method_with_a_reason(tmp_path):
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(_data()))
    at = AppTest.from_function(_panel, args=(str(path),)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("How the influence libraries compare" in s.value for s in at.subheader)
    assert len(at.table) == 1 and not at.dataframe  # static: the "why" sentences wrap at any width
    table = at.table[0].value
    assert list(table["method"]) == [r["label"] for r in ROWS]
    assert table["Pearson"].iloc[0] == 0.95 and table["seconds"].iloc[1] == 5.0
    assert "why" not in table.columns  # nine short columns; the reasons are a list below the table
    reasons = [m.value for m in at.markdown if "Why each method lands where it does" in m.value]
    assert len(reasons) == 1
    lines = reasons[0].split("\n")[1:]
    assert len(lines) == len(ROWS)
    assert lines[1].startswith("- **dattri · IFAttributorCG**: ") and md_escape("1 − λQ_ii") in lines[1]  # theory §5
    assert md_escape("theory §4") in lines[0]
    assert md_escape("Did not finish (killed: over the 100 s time budget | *not markdown*)") in lines[2]
    captions = " ".join(c.value for c in at.caption)
    assert md_escape("best is IFAttributorCG, Pearson 0.700 against our 0.950, in 10.0× our time") in captions
    assert md_escape("no method of this library finished") in captions


def test_panel_without_a_result_says_how_to_make_one(tmp_path):
    at = AppTest.from_function(_panel, args=(str(tmp_path / "missing.json"),)).run()
    assert not at.exception
    assert "run_peers.py" in at.info[0].value
    assert not at.table


def test_load_peers_refuses_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"schema": "ifexplorer.validation/1"}))
    assert peers.load_peers(p) is None
    p.write_text("{not json")
    assert peers.load_peers(p) is None


def test_failed_rows_show_a_dash_and_numbers_are_rounded_for_reading():
    """A method that did not finish has "—" in its number cells, never "None" or "nan"; numbers are rounded."""
    text = peers.styled_table(_data()["sizes"][0]).to_html()
    failed = text[text.index("NaiveInfluenceFunction"):]
    failed = failed[:failed.index("</tr>")]
    assert failed.count(">—<") == 5  # seconds, Pearson, Spearman, sign agreement, LDS (its peak memory is kept)
    assert "None" not in text and "nan" not in text
    assert ">0.950<" in text and ">5.00<" in text and ">2,000<" in text
    assert "Did not finish" not in text  # the reasons are the list below the table
