"""Training-set map: every training image in 2-D, coloured by what it does; click one to open it, lasso a region to
list it."""
import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.experiments.embedding import embed
from ifexplorer.plots.map import training_map_figure
from ifexplorer.ui.navigate import TRAIN_KEY, open_training_point
from ifexplorer.ui.picker import image_buttons

ui.page_header("Training-set map", r"""
Each dot is a training image, placed so that similar images are close: **PCA** projects the images (unit-norm
pixel vectors) on their two main directions of variation (instant, and the same map every time); **t-SNE** keeps
neighbourhoods instead (computed once per dataset and cached on disk; distances between far-apart groups mean
little). Colour shows the exact leave-one-out influence $I(i,x)$ of each image on the chosen test image
(blue helps, red hurts; theory §4), the self-influence $I(i,x_i)$ (dark = the model leans on this image to fit
itself — mislabeled or unusual images), the label, or the labels flipped on purpose. Helpful and harmful images
often sit in the same neighbourhood: what decides is the label they carry.

**Click** a dot to open that image in the reverse view; drag to zoom (double-click to zoom out); pick **Lasso
Select** or **Box Select** in the chart's toolbar (top right, on hover) and draw around a region to list its images,
with a CSV.
""")

COLOURS = {"influence": "influence", "self_influence": "self-influence", "label": "label",
           "flipped": "flipped"}  # short: the four fit one row at 1280 px; the chart's title says the rest
LAYOUTS = {"pca": "PCA (instant)", "tsne": "t-SNE (neighbourhoods)"}
SHOWN = 8  # thumbnails of a selection


def _layout(exp, c1) -> tuple[np.ndarray, str]:
    method = c1.radio("Layout", list(LAYOUTS), format_func=LAYOUTS.get, key="map_layout")
    if method == "pca":
        xy = exp.memo(("embedding", "pca"), lambda: embed(exp.data.X_train, "pca", seed=exp.config.seed),
                      label="the training-set map")
        return xy, method
    wanted = st.session_state.setdefault("map_tsne_wanted", set())  # settings whose t-SNE the user asked for
    st.button("Compute the t-SNE map", key="map_tsne", icon=":material/play_arrow:", on_click=wanted.add,
              args=(exp.config,), disabled=exp.peek(("embedding", "tsne")) is not None)
    if exp.peek(("embedding", "tsne")) is None and exp.config not in wanted:
        st.info("t-SNE takes seconds to a minute the first time (then it is cached). Press **Compute the t-SNE map**, "
                "or stay with PCA.", icon=":material/hourglass_empty:")
        st.stop()
    xy = ui.with_progress(exp, ("embedding", "tsne"), "Computing the t-SNE map",
                          lambda progress: embed(exp.data.X_train, "tsne", seed=exp.config.seed, progress=progress))
    return xy, method


def _colour(exp, c1, c2) -> tuple[np.ndarray, str, str | None, int | None]:
    """(values per training point, colour kind, colour title, chosen test index or None)."""
    kind = c1.segmented_control("Colour by", list(COLOURS),
                                help="Influence on the chosen test image, self-influence, the label used in training, "
                                     "or the labels flipped on purpose", format_func=COLOURS.get, default="influence",
                                key="map_colour") or "influence"
    if kind == "influence":
        i = ui.test_index_input(exp, container=c2)
        return _influence_row(exp, i), kind, f"influence on test #{i}", i
    if kind == "self_influence":
        return exp.self_influence(), kind, None, None
    if kind == "label":
        return np.array([exp.class_name(c) for c in exp.train_class()]), kind, None, None
    return exp.noisy_mask(), kind, None, None


def _influence_row(exp, i: int) -> np.ndarray:
    """I(·, x_i) (n,): a row of the influence matrix when a page computed it, else that one row."""
    full = exp.peek("influence")
    if full is not None:
        return full[i]
    data = exp.data
    return exp.memo(("influence_row", i), lambda: exp.model.influence(data.X_test[i:i + 1], data.y_test[i:i + 1])[0],
                    label=f"the influence on test image #{i}")


def _chart(exp, xy, values, kind, title):
    n = len(xy)
    chosen = st.session_state.get(TRAIN_KEY)
    marked = [int(chosen)] if chosen is not None and 0 <= int(chosen) < n else None
    ids = getattr(exp.data, "ids_train", None)
    fig = training_map_figure(xy, values, kind, labels=[exp.class_name(c) for c in exp.train_class()],
                              hover_ids=ids, marked=marked, title=f"Training-set map ({n:,} images)",
                              color_title=title)
    return st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))


def _selected(event) -> tuple[list[int], bool]:
    """(training indices in the selection, whether it was a region (box / lasso) rather than a click)."""
    try:
        selection = event.selection
    except AttributeError:
        return [], False
    region = bool(selection.get("box") or selection.get("lasso"))
    picked = []
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None and int(data) not in picked:
            picked.append(int(data))
    return picked, region


def _region(exp, members: list[int], values, kind: str, test_index) -> None:
    members = np.array(sorted(members), dtype=int)
    data, si = exp.data, exp.self_influence()
    st.subheader(f"Selected region: {len(members):,} training image{'s' * (len(members) != 1)}")
    table = pd.DataFrame({"training #": members,
                          "label": [exp.class_name(c) for c in exp.train_class()[members]],
                          "true class": [exp.class_name(c) for c in data.true_labels_train[members]],
                          "flipped": exp.noisy_mask()[members], "self-influence": si[members]})
    if getattr(data, "ids_train", None) is not None:
        table.insert(1, "sample id", np.asarray(data.ids_train)[members])
    if kind == "influence":
        table[f"influence on test #{test_index}"] = np.asarray(values)[members]
    order = table.sort_values("self-influence", ascending=False)
    first = order["training #"].to_numpy()[:SHOWN]
    st.caption(f"The {len(first)} most self-influential of them (press one to open it in the reverse view):")
    picked = image_buttons([data.images_train[j] for j in first], [exp.train_caption(j) for j in first], first,
                           key="map_pick", size=72, per_row=SHOWN, help="Open it in the reverse view")
    if picked is not None:
        open_training_point(picked)
    st.dataframe(order, hide_index=True, key="map_table")
    st.download_button("Download the selection (CSV)", order.to_csv(index=False), file_name="map_selection.csv",
                       mime="text/csv", key="map_csv", icon=":material/download:")


def _page() -> None:
    exp = ui.current_experiment()
    c1, c2, c3 = st.columns([2, 3, 1.2])  # one row of controls: the map stays in view at 1280 × 720
    values, kind, title, test_index = _colour(exp, c2, c3)
    xy, _ = _layout(exp, c1)
    ui.flip_legend(exp)
    event = _chart(exp, xy, values, kind, title)
    members, region = _selected(event)
    if members and not region:
        open_training_point(members[0])
    if members:
        _region(exp, members, values, kind, test_index)
    else:
        st.caption("Click a dot to open it. To list a region, pick Lasso Select or Box Select in the chart's toolbar "
                   "(top right) and draw around it. Drag to zoom; double-click to zoom out.")


with ui.friendly_errors("The map"):
    _page()
