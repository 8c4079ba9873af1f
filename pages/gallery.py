"""Influence gallery: for one test image, the training images that helped and hurt it most; a browser of every
test image (paging, sorting, filters, clickable thumbnails, ←/→); suspicious training points."""
import math

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots, top_influences
from ifexplorer.experiments import browse
from ifexplorer.experiments.complexity import group_complexity
from ifexplorer.experiments.training_time import mislabel_detection
from ifexplorer.plots.style import HARMFUL
from ifexplorer.ui import components, md_escape, url_state

ROWS = 3            # rows of thumbnails on a page of the browser
GRID_BUDGET = 860   # px of a row at 1280×720 with the sidebar open
SUSPICIOUS = (10, 20, 50, 100, 200, 500)

ui.page_header("Influence gallery", r"""
The influence of training image $i$ on test image $x$ is the change of the test loss when $i$ is removed and
the network retrained: $I(i,x) = \ell(f^{-i}(x), y_x) - \ell(f(x), y_x)$, $\ell = \tfrac12\|f-y\|^2$.
**Helpful** ($I>0$, blue): removing it makes $x$ worse. **Harmful** ($I<0$, red): removing it helps. In the NTK
regime this is exact and cheap: $f^{-i}(x) = f(x) - (k(x)^\top Q)_i\,\alpha_i/Q_{ii}$ with $Q=(H+\lambda I)^{-1}$,
$\alpha = Qy$.

*Complexity* of a group $G$ (paper's Fig. 5) is how much the group adds to the RKHS norm of the fit,
$C_G = y^\top Q y - y_{-G}^\top (H_{-G}+\lambda I)^{-1} y_{-G}$. *Self-influence* $I(i, x_i)$ is how much
point $i$'s own loss grows without it; large values flag mislabeled or unusual images (an orange frame marks
labels we flipped on purpose). Click any training image to open it.
""")

exp = ui.current_experiment()
data = exp.data
pred, true = exp.test_pred_class(), exp.test_true_class()
noisy = exp.noisy_mask()
scores = exp.memo("test_scores", lambda: browse.score_test_points(exp.test_outputs(), true))
CLASS_OPTIONS = [-1, *range(len(data.class_names))]


# ------------------------------------------------------------------------------------------------ the browser state
def _order() -> np.ndarray:
    """The browser's test indices after its filters, in its sort order (memoised per setting)."""
    sort, cls, mis = st.session_state["browse_sort"], st.session_state["browse_class"], st.session_state["browse_mis"]
    return exp.memo(("browse", sort, cls, mis), lambda: browse.select_test_points(
        scores, sort, classes=None if cls < 0 else [cls], misclassified=mis))


def _page_size() -> int:
    return components.per_row_for(ui_size(), GRID_BUDGET) * ROWS


def ui_size() -> int:
    return components.thumb_size()


def _init_state() -> None:
    """Defaults for the browser's widgets (a link may have set some: out-of-range values fall back)."""
    ss = st.session_state
    if ss.get("browse_sort") not in browse.SORT_KEYS:
        ss["browse_sort"] = "index"
    if ss.get("browse_class") not in CLASS_OPTIONS:
        ss["browse_class"] = -1
    ss["browse_mis"] = bool(ss.get("browse_mis", False))
    m = len(pred)
    if not isinstance(ss.get("test"), int) or not 0 <= ss["test"] < m:
        ss["test"] = 0
    if ss.get("compare_with") is not None and not (isinstance(ss["compare_with"], int) and 0 <= ss["compare_with"] < m):
        ss["compare_with"] = None


def _set_test(i: int) -> None:
    """Select test image i and show the browser's page that holds it."""
    st.session_state["test"] = int(i)
    order = _order()
    where = np.flatnonzero(order == i)
    if len(where):
        st.session_state["browse_page"] = int(where[0]) // _page_size() + 1
    st.session_state["_scroll_to_result"] = True


def _step(direction: int) -> None:
    """← / →: the previous / next test image in the browser's order (the first one when the current is filtered
    out), wrapping around."""
    order = _order()
    if not len(order):
        return
    where = np.flatnonzero(order == st.session_state.get("test", 0))
    nxt = 0 if not len(where) else (int(where[0]) + direction) % len(order)
    _set_test(int(order[nxt]))


# ------------------------------------------------------------------------------------------------ the panel
def _panel() -> None:
    """The chosen test image (or two, compared) and its top-k, then the browser. A fragment: a pick reruns only
    this panel."""
    components.open_after_fragment_click()
    _init_state()
    with st.container(key="result"):
        c1, c2, c3, c4, c5 = st.columns([1.1, 1.3, 1, 1, 1.3], vertical_alignment="bottom")
        with c1:
            i = ui.test_index_input(exp)
        with c2:
            k = st.slider("How many neighbours (k)", 1, 20, key="k")
        c3.button("Previous", icon=":material/arrow_back:", on_click=_step, args=(-1,), key="prev", shortcut="Left",
                  help="The previous test image of the browser below (key ←).", width="stretch")
        c4.button("Next", icon=":material/arrow_forward:", on_click=_step, args=(1,), key="next", shortcut="Right",
                  help="The next test image of the browser below (key →).", width="stretch")
        with c5:
            compare = st.toggle("Compare with another", key="compare_on")
        other = None
        if compare:
            if st.session_state.get("compare_with") is None:
                st.session_state["compare_with"] = (i + 1) % len(pred)
            other = int(st.number_input("Compare with test image #", 0, len(pred) - 1, step=1, key="compare_with"))
        url_state.publish_page(test=i, k=int(k), vs=other, sort=st.session_state["browse_sort"],
                               cls=_cls_param(), mis=st.session_state["browse_mis"] or None,
                               page=st.session_state.get("browse_page"))
        url_state.keep_only({"test", "k", "vs", "sort", "cls", "mis", "page", "size"})
        if other is None:
            _result(i, int(k), wide=True)
        else:
            left, right = st.columns(2, gap="large", border=True)
            with left:
                _result(i, int(k), wide=False, key="a")
            with right:
                _result(other, int(k), wide=False, key="b")
    _browser(i, other)
    # a constant label: an expander whose label changes is a new widget, closed again
    with ui.lazy_section("Every training image's influence on this test image: histogram, CSV, groups (Figure 5)",
                         key="more_hist", icon=":material/bar_chart:") as box:
        if box.open:
            row = exp.influence_matrix()[i]
            left, right = st.columns(2)
            with left:
                st.plotly_chart(plots.influence_histogram(row), key="hist")
                _csv(i, row)
            with right:
                _groups(i, row)
    if st.session_state.pop("_scroll_to_result", False):
        _scroll_to("result")


def _cls_param():
    cls = st.session_state["browse_class"]
    return None if cls < 0 else cls


def _result(i: int, k: int, wide: bool, key: str = "") -> None:
    """One test image: picture, verdict, outputs and its k most helpful / harmful training images."""
    row = exp.influence_matrix()[i]
    top = top_influences(row, k)
    if wide:
        left, right = st.columns([1, 3], gap="large")
    else:
        left = right = st.container()
    with left:
        _chosen_image(i, 196 if wide else 140)
    with right:
        ui.influence_rows(exp, top, table_key=f"topk_table{key}", budget_px=620 if wide else 400)


def _chosen_image(i: int, size: int) -> None:
    ui.show_image(data.images_test[i], f"test #{i}", size=size)
    out = np.atleast_1d(exp.test_outputs()[i])
    verdict = ":green-badge[:material/check_circle: correct]" if pred[i] == true[i] else \
        ":red-badge[:material/cancel: wrong]"
    st.markdown(f"**Label:** {md_escape(exp.class_name(true[i]))}  \n"
                f"**Prediction:** {md_escape(exp.class_name(pred[i]))} {verdict}  \n"
                f"**Sample:** {md_escape(str(data.ids_test[i]))}  \n"
                f"**Output f(x):** {', '.join(f'{v:+.3f}' for v in out[:10])}")


def _csv(i: int, row) -> None:
    table = components.training_table(exp, np.arange(len(row)), influence=row, ihvp_influence=exp.ihvp_matrix()[i],
                                      self_influence=exp.self_influence())
    st.download_button("Download this image's influence scores (CSV)", table.to_csv(index=False),
                       file_name=f"influence_test{i}.csv", mime="text/csv", key="csv", icon=":material/download:")


# ------------------------------------------------------------------------------------------------ the browser
def _browser(i: int, other) -> None:
    """Every test image, a page at a time: sort, filters, a clickable grid (click: explain it), paging."""
    st.subheader(f"Browse the {len(pred):,} test images")
    c1, c2, c3 = st.columns([3, 2, 1.6], vertical_alignment="bottom")
    c1.segmented_control("Sort by", browse.SORT_KEYS, key="browse_sort", required=True,
                         format_func={"loss": "loss ↓", "margin": "margin ↑", "confidence": "confidence ↑",
                                      "index": "index"}.get,
                         help="loss: largest first · margin: most wrong first · confidence: least sure first.")
    c2.selectbox("Class", CLASS_OPTIONS, key="browse_class",
                 format_func=lambda c: "all classes" if c < 0 else f"{exp.class_name(c)}")
    c3.toggle("Misclassified only", key="browse_mis")
    order = _order()
    if not len(order):
        st.info("No test image matches these filters.", icon=":material/filter_alt_off:")
        return
    size, per_page = ui_size(), _page_size()
    pages = browse.page_count(len(order), per_page)
    if not isinstance(st.session_state.get("browse_page"), int) or not 1 <= st.session_state["browse_page"] <= pages:
        st.session_state["browse_page"] = 1
    wrong = int((~scores.correct[order]).sum())
    st.caption(f"{len(order):,} test images match ({wrong:,} misclassified, framed red); page "
               f"{st.session_state['browse_page']} of {pages}. Under each: its index and label, → the prediction "
               "when wrong. Click an image to explain it; ← / → step through this list.")
    shown = browse.page(order, per_page, st.session_state["browse_page"] - 1)
    captions, hover, frames, colours = [], [], [], []
    for j in shown:
        ok = bool(scores.correct[j])
        mark = "▶" if j in (i, other) else "#"
        captions.append((f"{mark}{j}", exp.class_name(true[j]) + ("" if ok else f"→{exp.class_name(pred[j])}")))
        hover.append(f"test #{j} · {exp.class_name(true[j])} · predicted {exp.class_name(pred[j])} · loss "
                     f"{scores.loss[j]:.3g} · margin {scores.margin[j]:+.3g} · {data.ids_test[j]}")
        frames.append(None if ok else "harmful")
        colours.append(None if ok else HARMFUL)
    components.grid(data.images_test[shown], shown, key=f"browse_grid_{size}", on_pick=_set_test, size=size,
                    per_row=components.per_row_for(size, GRID_BUDGET), captions=captions, frames=frames,
                    hover=hover, caption_colours=colours)
    st.pagination(pages, key="browse_page", max_visible_pages=7)


def _scroll_to(key: str) -> None:
    """Bring the result into view after a pick in the browser below it (our own script, no user input in it)."""
    st.html(f"""<script>(function(){{const el = window.parent.document.querySelector('.st-key-{key}') ||
      document.querySelector('.st-key-{key}'); if (el) el.scrollIntoView({{behavior: 'instant', block: 'start'}});
      }})();</script><!-- {np.random.randint(1 << 30)} -->""", unsafe_allow_javascript=True, width=1)


def _groups(i: int, row) -> None:
    scope = st.radio("Order training points by their influence on", ["the whole test set", "this test image"],
                     key="groups_scope", horizontal=True)
    if scope == "this test image":
        groups = exp.memo(("groups", i), lambda: group_complexity(exp.model, row, 10))
    else:
        groups = exp.memo("groups_all", lambda: group_complexity(exp.model, exp.influence_matrix().sum(0), 10))
    st.plotly_chart(plots.group_complexity_figure(groups.complexity, groups.mean_score), key="groups")


# ------------------------------------------------------------------------------------------------ suspicious points
def suspicious_table(si, order) -> pd.DataFrame:
    """The ranked training points with sample ids, self-influence and the suggested label: the class the model
    trained WITHOUT the point predicts for it, f⁻ⁱ(xᵢ) = yᵢ − αᵢ/Qᵢᵢ (exact, theory §4; the model trained with
    it mostly repeats the label it was given, flipped or not)."""
    loo = exp.memo("loo_train_class", lambda: exp.class_of(data.y_train - exp.model.loo_residuals()))
    table = components.training_table(exp, order, self_influence=si[order])
    table.insert(0, "rank", np.arange(1, len(order) + 1))
    table["suggested label"] = [exp.class_name(c) for c in loo[order]]
    table["label disputed"] = loo[order] != exp.train_class()[order]
    return table


def _suspicious() -> None:
    """The training points of largest self-influence: any number, as a clickable grid and a sortable table,
    exportable; with label noise, how many flipped labels they hold."""
    st.caption("Ranked by self-influence I(i, xᵢ): how much a point's own loss grows when it is left out. "
               "Suggested label: what the model trained without the point predicts for it. Click an image (or a "
               "row, or a bar) to open it; click a column header to sort.")
    ui.flip_legend(exp)
    si = exp.self_influence()
    n = len(si)
    options = [s for s in SUSPICIOUS if s < n] + [n]
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    count = c1.selectbox("How many", options, key="susp_count", format_func=lambda s: "all" if s == n else str(s))
    order = np.argsort(-si, kind="stable")[:count]
    shown = order[:min(len(order), 4 * components.per_row_for(ui_size(), GRID_BUDGET))]
    components.training_grid(exp, shown, si[shown], key=f"susp_grid_{len(shown)}", budget_px=GRID_BUDGET)
    if len(shown) < len(order):
        st.caption(f"The first {len(shown)} shown as images; all {len(order)} are in the table.")
    table = suspicious_table(si, order)
    st.dataframe(table, hide_index=True, key="susp_table", on_select=_open_row, selection_mode="single-row",
                 height=min(400, 38 + 35 * len(table)))
    c2.download_button(f"Download these {len(order)} (CSV, with sample ids and suggested labels)",
                       table.to_csv(index=False), file_name="suspicious_training_points.csv", mime="text/csv",
                       key="susp_csv", icon=":material/download:")
    if noisy.any():
        found = exp.memo("mislabel_detection", lambda: mislabel_detection(exp.model, noisy, math.inf))
        cols = st.columns(len(found.fractions) + 1)
        for col, share, recall, chance in zip(cols, found.fractions, found.found, found.random):
            col.metric(f"Flipped labels in the top {share:.0%}", f"{recall:.0%}",
                       help=f"Share of the {found.n_noisy} flipped labels among the {share:.0%} most self-influential "
                            f"training points; a random ranking finds {chance:.0%}.")
        cols[-1].metric("ROC AUC", f"{found.auc:.2f}", help="Of self-influence as a detector of flipped labels "
                                                            f"(random ranking: {found.random_auc:.2f}).")
    st.plotly_chart(plots.self_influence_figure(si, noisy, top=min(len(order), 200)), key="selfinf",
                    on_select=_open_bar, selection_mode="points")


def _open_bar() -> None:
    """A bar clicked in the self-influence chart: open that training image."""
    j = ui.selected_training_index(st.session_state["selfinf"])
    if j is not None:
        components.ask_training_point(j)


def _open_row() -> None:
    """A row picked in the suspicious table: open that training image."""
    rows = st.session_state["susp_table"].selection.rows
    if rows:
        si = exp.self_influence()
        order = np.argsort(-si, kind="stable")
        components.ask_training_point(int(order[rows[0]]))


with ui.friendly_errors("The gallery"):
    st.session_state.setdefault("k", 8)
    st.fragment(_panel)()
    with ui.lazy_section("Suspicious training points: the largest self-influence, suggested labels, CSV",
                         key="more_suspicious", icon=":material/report:") as box:
        if box.open:
            _suspicious()
