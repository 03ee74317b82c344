"""Every numbered notebook runs headless with papermill in the ``smoke`` profile and saves at
least one PNG (CI runs this; `make figures` runs the same notebooks in other profiles). Opened by
a person, every notebook defaults to a real profile, never ``smoke``, and every numbered one
opens with the committed figures it draws, the paper's claim and our number from the record;
every image a notebook links exists."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from zflib.config import PROFILES
from zflib.paper import quotes
from zflib.paper.figures import numbered_notebooks, run_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = numbered_notebooks(ROOT / "notebooks")
EVERY = sorted((ROOT / "notebooks").glob("*.ipynb"))  # the explorer (00) too
# a Markdown image ![alt](target) or an HTML <img src="target">
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)"
                   r"|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.I)


def test_every_figure_and_table_has_a_notebook():
    numbers = {p.name[:2] for p in NOTEBOOKS}
    assert {"01", "02", "04", "05", "06", "07", "08", "09", "10", "11"} <= numbers


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


@pytest.mark.parametrize("path", EVERY, ids=[p.stem for p in EVERY])
def test_a_person_running_a_notebook_gets_a_real_profile_by_default(path):
    """Run All with nothing changed must draw the paper's figure, not the smoke test's few
    images: the parameters cell's default is a profile of config.PROFILES other than smoke
    (papermill, make figures and the tests pass theirs explicitly)."""
    cells = json.loads(path.read_text())["cells"]
    params = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    first = "".join(params["source"]).splitlines()[0]
    default = re.match(r'profile: str = "([^"]*)"', first)
    assert default, f"the parameters cell must start with `profile: str = \"...\"`: {first!r}"
    assert default[1] in PROFILES, f"default profile {default[1]!r}; valid: {', '.join(PROFILES)}"
    assert default[1] != "smoke", (f"{path.name} defaults to the smoke profile: Run All would "
                                   "draw the test's few images, not the paper's figure")


def test_every_notebook_names_the_kernel_make_lab_registers():
    """`make lab` registers the venv as a kernel (ipykernel install --sys-prefix --name ...);
    the notebooks name it, so Jupyter starts them in the project's environment without asking
    (papermill, make figures and the tests pass their own kernel, python3)."""
    lab = re.search(r"^lab:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S)[0]
    registered = re.search(r"ipykernel install --sys-prefix --name (\S+)", lab)[1]
    for path in EVERY:
        spec = json.loads(path.read_text())["metadata"]["kernelspec"]
        assert spec["name"] == registered and spec["language"] == "python", (path.name, spec)


def test_every_image_a_notebook_links_exists():
    checked = 0
    for path in EVERY:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for m in IMAGE.finditer("".join(cell["source"])):
                target = (m[1] or m[2]).split("#")[0]
                if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # a URL, data: included
                    continue
                assert (path.parent / target).is_file(), f"{path.name}: no file {target}"
                checked += 1
    assert checked >= len(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_opens_with_its_figure_the_claim_and_our_number(path):
    """Below the title: the committed figure(s) (`../figures/...png`, which a repository viewer
    shows without outputs), then the paper's claim and our result quoted from the record
    (zflib.paper.quotes spans, which tests/paper/test_quotes.py keeps fresh)."""
    title = "".join(json.loads(path.read_text())["cells"][0]["source"])
    blocks = [b.strip() for b in re.split(r"\n\s*\n", title.split("\n", 1)[1]) if b.strip()]
    assert blocks and re.fullmatch(r"!\[[^\]]+\]\(\.\./figures/[^)\s]+\.png\)", blocks[0]), \
        f"{path.name}: the first thing under the title must be a committed figure: {blocks[:1]}"
    claim = next((b for b in blocks if not b.startswith("![")), "")
    assert claim.startswith("**The paper:**") and "**Measured here**" in claim, claim[:120]
    assert quotes.quotes(claim), f"{path.name}: our result must be quoted from the record"


@pytest.mark.parametrize(("module", "function", "args"), [
    ("deconv", "plot_evolution", ({},)),
    ("deconv", "tile_grid", ([], 3)),
    ("invariance", "plot_fig5", ([], [])),
    ("architecture", "plot_table3", ([],)),
    ("architecture", "plot_band_energy", ({},)),
    ("transfer", "plot_table7", ({"layers": {}, "paper": {}, "size": 30},)),
])
def test_plots_refuse_empty_input_clearly(module, function, args):
    plot = getattr(importlib.import_module(f"zflib.viz.{module}"), function)
    with pytest.raises(ValueError, match="nothing to draw"):
        plot(*args)
