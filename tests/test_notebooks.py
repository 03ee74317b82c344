"""Every numbered notebook runs headless with papermill in the ``smoke`` profile and saves at
least one PNG (CI runs this; `make figures` runs the same notebooks in other profiles)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from zflib.paper.figures import numbered_notebooks, run_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = numbered_notebooks(ROOT / "notebooks")


def test_every_figure_and_table_has_a_notebook():
    numbers = {p.name[:2] for p in NOTEBOOKS}
    assert {"01", "02", "04", "05", "06", "07", "08", "09", "10", "11", "12"} <= numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_profile(path, tmp_path, monkeypatch):
    src = json.loads(path.read_text())
    tagged = [c for c in src["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert tagged and "".join(tagged[0]["source"]).startswith("profile: str"), \
        "cell 2 must be tagged `parameters` with `profile` first"
    assert all(not c.get("outputs") for c in src["cells"] if c["cell_type"] == "code"), \
        "notebooks are committed without outputs"
    ids = [c.get("id") for c in src["cells"]]  # nbformat 4.5: every cell has a unique id
    assert None not in ids and len(set(ids)) == len(ids), f"cell ids missing or repeated: {ids}"
    figures = tmp_path / "figures"
    monkeypatch.setenv("ZF_FIGURES", str(figures))
    params = {}
    if "results_dir" in "".join(tagged[0]["source"]):
        params["results_dir"] = str(tmp_path / "results")
    # through make figures' own runner, so that `make test` also checks the path it takes
    failure = run_notebook(path, tmp_path / path.name, "smoke", parameters=params)
    assert failure is None, failure.message()
    assert list(figures.glob("*.png")), f"{path.name} saved no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_follows_style(path):
    """STYLE.md's Notebooks section, checked without running anything: a `# Figure N` /
    `# Table N` title cell, typed and commented parameters, no `def`, one figure saved and a
    sanity assert."""
    cells = json.loads(path.read_text())["cells"]
    title = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and title.startswith(("# Figure ", "# Table")), \
        f"cell 1 must be markdown `# Figure N: <title>`: {title[:60]!r}"
    assert len([line for line in title.splitlines()[1:] if line.strip()]) > 1, \
        "cell 1 needs a paragraph on what the paper shows"
    params = "".join(cells[1]["source"]).splitlines()
    assert all(": " in line.split("=")[0] and "  # " in line for line in params), \
        f"every parameter line is typed and commented: {params}"
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert not any(line.lstrip().startswith(("def ", "class ")) for src in code
                   for line in src.splitlines()), "no `def` or `class` in a notebook"
    assert any("save_figure(" in src for src in code), "no save_figure(...)"
    assert "assert " in code[-1], "the last cell is the sanity assert"


@pytest.mark.parametrize(("module", "function", "args"), [
    ("deconv", "plot_evolution", ({},)),
    ("deconv", "tile_grid", ([], 3)),
    ("invariance", "plot_fig5", ([], [])),
    ("architecture", "plot_table3", ([],)),
    ("architecture", "plot_band_energy", ({},)),
    ("transfer", "plot_table7", ({"layers": {}, "paper": {}, "size": 30},)),
    ("sanity", "plot_curves", ({}, [])),
])
def test_plots_refuse_empty_input_clearly(module, function, args):
    plot = getattr(importlib.import_module(f"zflib.viz.{module}"), function)
    with pytest.raises(ValueError, match="nothing to draw"):
        plot(*args)
