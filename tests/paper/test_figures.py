"""zflib.paper.figures (``make figures``) on three tiny notebooks: order, parameters, the explorer
left out, PNGs reported, and a failure named by notebook and cell that stops the run."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from zflib.paper import figures


def _notebook(path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Figure 0: test"),
                nbformat.v4.new_code_cell('profile: str = "smoke"  # smoke | quick | full | paper',
                                          metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


WRITE = """import os, pathlib
out = pathlib.Path(os.environ["ZF_FIGURES"])
out.mkdir(parents=True, exist_ok=True)
(out / "{name}.txt").write_text(profile)"""


@pytest.fixture()
def tree(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "00_explorer.ipynb", 'raise RuntimeError("the explorer must not run")')
    _notebook(nbs / "01_a.ipynb", WRITE.format(name="a"),
              "from PIL import Image\nImage.new('RGB', (4, 4)).save(out / 'fig01_a.png')")
    _notebook(nbs / "02_b.ipynb", "x = 1", 'raise ValueError(f"boom {x + 41}")', "y = 2")
    _notebook(nbs / "03_c.ipynb", WRITE.format(name="c"))
    (nbs / "notes.ipynb").write_text("{}")  # not numbered: ignored
    return tmp_path


def test_runs_in_order_and_stops_at_the_failing_cell(tree, monkeypatch):
    monkeypatch.setenv("ZF_FIGURES", "/the/callers/choice")
    lines: list[str] = []
    status = figures.run_all("quick", notebooks=tree / "notebooks", build=tree / "build",
                             figures=tree / "figs", log=lines.append)
    text = "\n".join(lines)
    assert status == 1
    assert (tree / "figs" / "a.txt").read_text() == "quick"  # the profile reached the kernel
    assert not (tree / "figs" / "c.txt").exists()  # stopped at 02
    assert "00_explorer" not in text and "notes" not in text
    assert "[1/3] 01_a:" in text and "-> fig01_a.png" in text
    # cell 4 of the source notebook (markdown, parameters, x = 1, raise), papermill's
    # injected cell not counted
    assert "02_b.ipynb failed in cell 4 (`raise ValueError(f\"boom {x + 41}\")`)" in text
    assert "ValueError: boom 42" in text
    executed = tree / "build" / "notebooks" / "quick" / "02_b.ipynb"
    assert str(executed) in text and executed.exists()
    assert (tree / "build" / "notebooks" / "quick" / "01_a.ipynb").exists()
    summary = json.loads((tree / "build" / "figures-quick.json").read_text())
    assert summary["ok"] is False and list(summary["notebooks_s"]) == ["01_a"]
    assert "machine" in summary
    import os

    assert os.environ["ZF_FIGURES"] == "/the/callers/choice"  # the process's own, put back


def test_only_and_the_command_line(tree, capsys):
    args = ["--profile", "smoke", "--notebooks", str(tree / "notebooks"), "--build",
            str(tree / "build"), "--figures", str(tree / "figs")]
    assert figures.main([*args, "--only", "3"]) == 0
    assert (tree / "figs" / "c.txt").read_text() == "smoke"
    assert not (tree / "figs" / "a.txt").exists()
    out = capsys.readouterr().out
    assert "[1/1] 03_c:" in out and "1 of 1 notebooks" in out
    assert figures.main([*args, "--only", "9"]) == 2
    assert "no notebook numbered 09" in capsys.readouterr().err
    paper = [a if a != "smoke" else "paper" for a in args]
    assert figures.main(paper) == 2  # refused before any notebook runs
    assert "valid here: smoke, quick, lab, full" in capsys.readouterr().err
    assert not (tree / "build" / "notebooks" / "paper").exists()


def test_numbered_notebooks(tree):
    names = [p.name for p in figures.numbered_notebooks(tree / "notebooks")]
    assert names == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    assert [p.name for p in figures.numbered_notebooks(tree / "notebooks", ["03", "1"])] == \
        ["01_a.ipynb", "03_c.ipynb"]
    with pytest.raises(ValueError, match="valid: 01, 02, 03"):
        figures.numbered_notebooks(tree / "notebooks", ["00"])
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        figures.run_all("fast", notebooks=tree / "notebooks")


def test_partial_rerun_updates_the_whole_runs_summary(tree):
    args = ["--profile", "smoke", "--notebooks", str(tree / "notebooks"), "--build",
            str(tree / "build"), "--figures", str(tree / "figs")]
    assert figures.main([*args, "--only", "1"]) == 0
    assert figures.main([*args, "--only", "3"]) == 0
    summary = json.loads((tree / "build" / "figures-smoke.json").read_text())
    assert list(summary["notebooks_s"]) == ["01_a", "03_c"] and summary["ok"] is True
    assert summary["total_s"] == pytest.approx(sum(summary["notebooks_s"].values()), abs=0.2)
    # each notebook keeps when it was timed and how fast the machine was then
    assert set(summary["timed"]) == {"01_a", "03_c"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \S+, matmul \d+ GFLOP/s", v)
               for v in summary["timed"].values())
    here = summary["machine"]
    # a partial rerun on another machine says which notebooks ran there
    path = tree / "build" / "figures-smoke.json"
    path.write_text(json.dumps({**summary, "machine": "the first machine"}))
    assert figures.main([*args, "--only", "3"]) == 0
    assert json.loads(path.read_text())["machine"] == f"the first machine; 03 on {here}"


def test_a_partial_rerun_clears_the_failure_it_reruns(tree):
    """The summary says a whole run failed until the notebook that failed succeeds; the exit
    status is that of the command run."""
    args = ["--profile", "smoke", "--notebooks", str(tree / "notebooks"), "--build",
            str(tree / "build"), "--figures", str(tree / "figs")]
    summary = tree / "build" / "figures-smoke.json"
    assert figures.main(args) == 1  # stops at 02_b
    assert json.loads(summary.read_text())["failed"] == "02_b"
    assert figures.main([*args, "--only", "3"]) == 0  # succeeds; 02_b still failed
    assert json.loads(summary.read_text())["ok"] is False
    _notebook(tree / "notebooks" / "02_b.ipynb", "x = 1")  # fixed
    assert figures.main([*args, "--only", "2"]) == 0
    now = json.loads(summary.read_text())
    assert now["ok"] is True and now["failed"] is None
    assert list(now["notebooks_s"]) == ["01_a", "02_b", "03_c"]
    _notebook(tree / "notebooks" / "03_c.ipynb", "raise ValueError('broken')")
    assert figures.main([*args, "--only", "3"]) == 1  # a rerun that fails drops its old time
    now = json.loads(summary.read_text())
    assert now["failed"] == "03_c" and list(now["notebooks_s"]) == ["01_a", "02_b"]


@pytest.mark.parametrize("cell,timeout,error", [
    ("import time\ntime.sleep(60)", 2, "CellTimeoutError"),
    ("import os\nos._exit(1)", None, "DeadKernelError: Kernel died"),
])
def test_a_timeout_or_a_dead_kernel_names_the_cell(tmp_path, cell, timeout, error):
    """papermill raises these outside its cell-error path; the message still names the cell
    that was running (cell 4: markdown, parameters, ``x = 1``, this one)."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_a.ipynb", "x = 1", cell, "y = 2")
    lines: list[str] = []
    status = figures.run_all("smoke", notebooks=nbs, build=tmp_path / "build",
                             figures=tmp_path / "figs", timeout=timeout, log=lines.append)
    text = "\n".join(lines)
    assert status == 1
    assert f"01_a.ipynb failed in cell 4 (`{cell.splitlines()[0]}`)" in text, text
    assert error in text


def test_only_the_record_profile_writes_the_committed_figures(tree, monkeypatch):
    """quick and smoke leave figures/ as committed (their PNGs go to build/figures/PROFILE);
    the record's profile writes figures/; --figures or $ZF_FIGURES overrides both."""
    from zflib.config import RECORD_PROFILE

    monkeypatch.delenv("ZF_FIGURES", raising=False)
    monkeypatch.setattr(figures, "repo_root", lambda: tree)
    build = tree / "build"
    for profile in ("smoke", "quick"):
        assert figures.figures_dir(profile) == build / "figures" / profile
        assert figures.run_all(profile, notebooks=tree / "notebooks", build=build,
                               only=["3"], log=lambda _: None) == 0
        assert (build / "figures" / profile / "c.txt").read_text() == profile
    assert not (tree / "figures").exists()  # the committed folder untouched
    assert figures.figures_dir(RECORD_PROFILE) == tree / "figures"
    assert figures.run_all(RECORD_PROFILE, notebooks=tree / "notebooks", build=build,
                           only=["3"], log=lambda _: None) == 0
    assert (tree / "figures" / "c.txt").read_text() == RECORD_PROFILE
    monkeypatch.setenv("ZF_FIGURES", str(tree / "mine"))
    assert figures.run_all("quick", notebooks=tree / "notebooks", build=build, only=["3"],
                           log=lambda _: None) == 0
    assert (tree / "mine" / "c.txt").read_text() == "quick"
