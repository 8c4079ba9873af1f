"""The clickable thumbnail grid as a Streamlit component (st.components.v2): a row-by-row grid of buttons, each
a thumbnail with its caption lines, drawn from plots.grid.thumbnail_grid_data by a few lines of JavaScript in the
page itself. It replaces a plotly figure per grid: plotly.js (4.7 MB) no longer loads on a page whose charts are
only thumbnails, and a slider step redraws a handful of <img> elements instead of an SVG plot.

Every text is set as textContent or an attribute, never as HTML, so user class and file names stay literal. A
click (or Enter / Space on a focused thumbnail) sends the cell's index as the trigger value "picked"."""
from __future__ import annotations

import streamlit as st

from ifexplorer.plots.grid import grid_width

HTML = '<div class="ifx-grid" role="group"></div>'

CSS = """
.ifx-grid { display: grid; justify-content: start; font-family: var(--st-font, sans-serif); }
.ifx-cell { all: unset; box-sizing: border-box; width: 100%; min-width: 0; display: flex; flex-direction: column;
            align-items: center; cursor: pointer; color: var(--st-text-color, inherit); }
.ifx-cell:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: 1px; }
.ifx-cell:hover img { filter: brightness(0.9); }
.ifx-cell img { display: block; width: 100%; height: auto; aspect-ratio: 1; }
.ifx-cell span { display: block; white-space: nowrap; text-align: center; }
"""

JS = """
export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector('.ifx-grid');
  const { size, gap, per_row, lines, line_px, font_px, cells } = data;
  // per_row columns of size px, all narrower alike where the page's column is narrower than the grid
  root.style.gridTemplateColumns = `repeat(${Math.min(per_row, cells.length)}, minmax(0, ${size}px))`;
  root.style.columnGap = `${gap}px`;
  const made = cells.map((cell) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'ifx-cell';
    button.title = cell.title;
    button.setAttribute('aria-label', cell.title);
    button.dataset.index = String(cell.index);
    button.style.paddingBottom = `${gap / 2}px`;
    const img = document.createElement('img');
    img.src = cell.src; img.width = size; img.height = size; img.alt = '';
    img.style.marginBottom = `${gap / 2}px`;
    button.appendChild(img);
    for (const text of cell.lines) {
      const span = document.createElement('span');
      span.textContent = text;
      span.style.font = `${font_px}px/${line_px}px var(--st-font, sans-serif)`;
      if (cell.colour) span.style.color = cell.colour;
      button.appendChild(span);
    }
    button.addEventListener('click', () => setTriggerValue('picked', cell.index));
    return button;
  });
  root.replaceChildren(...made);
}
"""

_mount = st.components.v2.component("ifexplorer.thumbnail_grid", html=HTML, css=CSS, js=JS)


def thumbnail_grid(data: dict, *, key: str, on_pick) -> None:
    """Draw a grid made by plots.grid.thumbnail_grid_data, per_row cells to a row at their own size (scaled down
    alike where the page's column is narrower); a click calls on_pick(index) before the rerun (a Streamlit
    callback, so it may set widget state)."""
    def picked() -> None:
        index = (st.session_state.get(key) or {}).get("picked")
        if index is not None:
            on_pick(int(index))

    cells = data["cells"]
    _mount(key=key, data=data, on_picked_change=picked, width=grid_width(len(cells), data["per_row"], data["size"]),
           height="content")
