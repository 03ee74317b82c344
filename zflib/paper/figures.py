"""``make figures``: run every numbered notebook in order with papermill.

``python -m zflib.paper.figures --profile quick [--only 02 07 ...]`` executes
``notebooks/NN_*.ipynb`` (``00_explorer`` excepted: it is interactive, see ``make explore``) in the
order of their numbers, each with ``-p profile <profile>``, writes the executed copies to
``build/notebooks/<profile>/`` and lets the notebooks save their PNGs (passed on as
``$ZF_FIGURES``) to :func:`figures_dir`: ``figures/`` for the committed record's profile
(``config.RECORD_PROFILE``, the figures ``RESULTS.md`` and the README show), ``figures/224/``
for ``full224`` (the same figures from the 224-pixel ZFNet), and
``build/figures/<profile>/`` for any other, so that ``make figures`` in ``quick`` leaves the
committed figures as they are (``--figures`` or ``$ZF_FIGURES`` chooses another folder).
It prints the time of each notebook and the PNGs it wrote, and a summary, also written to
``build/figures-<profile>.json``.

Nothing is retrained here: the notebooks load the committed weights and results
(:mod:`zflib.training.artifacts`) and the decoded datasets cached under ``zf_home()``.

When a notebook fails, the run stops there with a message naming the notebook, the cell (its
number in the source notebook, counting from 1, and its first line) and the error, and points
at the executed copy holding the full traceback; the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zflib.config import PROFILES, RECORD_FIGURES, RECORD_PROFILE, get_config, repo_root
from zflib.progress import OFF

# what a summary says of a notebook timed before summaries stamped each notebook's run
UNSTAMPED = "an earlier run"

NOTEBOOK = re.compile(r"(\d\d)_.+\.ipynb")
SKIP = ("00",)  # the explorer (interactive; `make explore`)
# the profiles of the committed 64-pixel models, which the notebooks draw
# the profiles whose data the notebooks can load: Tiny ImageNet (64 px, or resized to 256 in
# full224); `paper` trains on an ImageFolder tree of its own
FIGURE_PROFILES = tuple(p for p in PROFILES if get_config(p).dataset == "tiny-imagenet")


@dataclass
class Failure:
    """Where a notebook failed: ``cell`` counts from 1 in the source notebook."""

    notebook: str
    cell: int | None
    first_line: str
    error: str
    executed: Path

    def message(self) -> str:
        where = f"in cell {self.cell}" if self.cell is not None else "before any cell ran"
        line = f" (`{self.first_line}`)" if self.first_line else ""
        return (f"make figures: {self.notebook} failed {where}{line}:\n  {self.error}\n"
                f"  the executed notebook with the full traceback: {self.executed}")


def numbered_notebooks(folder: str | os.PathLike, only: Sequence[str] = ()) -> list[Path]:
    """``NN_*.ipynb`` of ``folder`` sorted by number, without the explorer (``00``); ``only``
    keeps those numbers (``"2"`` or ``"02"``). Raises ``ValueError`` for an unknown number."""
    found = sorted((p for p in Path(folder).glob("*.ipynb") if NOTEBOOK.fullmatch(p.name)),
                   key=lambda p: p.name)
    found = [p for p in found if p.name[:2] not in SKIP]
    if not only:
        return found
    want = {f"{int(n):02d}" if str(n).isdigit() else str(n) for n in only}
    have = {p.name[:2] for p in found}
    if want - have:
        raise ValueError(f"no notebook numbered {', '.join(sorted(want - have))} in {folder}; "
                         f"valid: {', '.join(sorted(have))}")
    return [p for p in found if p.name[:2] in want]


def _source_cell(executed: Path, index: int | None) -> tuple[int | None, str]:
    """(number of executed cell ``index`` in the source notebook, counting from 1 and leaving
    out papermill's injected-parameters cell and error banner; its first line)."""
    if index is None:
        return None, ""
    try:
        import nbformat

        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return index + 1, ""
    # papermill puts an error banner on top of the saved copy; the index predates it
    cells = [c for c in cells
             if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    injected = sum(1 for c in cells[:index]
                   if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    lines = cells[index].source.strip().splitlines() if index < len(cells) else []
    return index + 1 - injected, lines[0][:80] if lines else ""


def run_notebook(src: Path, out: Path, profile: str, *, kernel: str = "python3",
                 timeout: int | None = None, parameters: dict | None = None) -> Failure | None:
    """Execute ``src`` into ``out`` with ``profile`` (and further papermill ``parameters``);
    None when it ran, else a :class:`Failure`. The kernel runs with ``$TQDM_DISABLE`` set:
    the executed copy holds no progress bars (:mod:`zflib.progress`)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    try:
        # the kernel's own log lines go to the log, not to the terminal; no progress bars
        with _stderr_to(log), _environ(**{OFF: "1"}):
            papermill.execute_notebook(str(src), str(out),
                                       parameters={**(parameters or {}), "profile": profile},
                                       kernel_name=kernel, progress_bar=False,
                                       log_output=False, cwd=str(repo_root()),
                                       execution_timeout=timeout)
    except PapermillExecutionError as err:
        cell, line = _source_cell(out, err.cell_index)
        return Failure(src.name, cell, line, f"{err.ename}: {err.evalue}".strip(), out)
    except Exception as err:  # a dead kernel, a timeout, an unreadable notebook
        cell, line = _source_cell(out, _last_started(out))
        error = (str(err).strip().splitlines() or [""])[0]
        return Failure(src.name, cell, line, f"{type(err).__name__}: {error}".strip(), out)
    return None


def _last_started(executed: Path) -> int | None:
    """Index of the last cell papermill started in the saved copy ``executed`` (where a
    timeout or a dead kernel stopped it), or None if no cell started or there is no copy."""
    try:
        import nbformat

        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return None
    started = [i for i, c in enumerate(cells)
               if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return started[-1] if started else None


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables within the block (for the kernels started there), and put
    back what was there before, also when the block raises."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Point file descriptor 2 (inherited by the kernel) at ``path`` within the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _pngs(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in folder.glob("*.png")} if folder.exists() else {}


def figures_dir(profile: str, *, root: Path | None = None, build: Path | None = None) -> Path:
    """Where ``make figures`` in ``profile`` puts its PNGs unless told otherwise: the committed
    ``<root>/figures/`` for ``full`` and ``<root>/figures/224/`` for ``full224``
    (``config.RECORD_FIGURES``), ``<build>/figures/<profile>/`` for every other (``build``
    defaults to ``<root>/build``)."""
    root = root or repo_root()
    if profile in RECORD_FIGURES:
        return root / RECORD_FIGURES[profile]
    return (build or root / "build") / "figures" / profile


def run_all(profile: str, *, notebooks: str | os.PathLike | None = None,
            build: str | os.PathLike | None = None, figures: str | os.PathLike | None = None,
            only: Sequence[str] = (), kernel: str = "python3", timeout: int | None = None,
            log=print) -> int:
    """Run the numbered notebooks with ``profile``; return the exit status (0 or 1)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile not in FIGURE_PROFILES:
        raise ValueError(
            f"profile {profile!r} trains ZFNet-224 on an ImageFolder tree (ImageNet, a GPU: "
            f"python -m zflib.training.train --profile {profile} --set data_root=...), "
            "but the notebooks "
            "draw the committed models on Tiny ImageNet; valid here: "
            f"{', '.join(FIGURE_PROFILES)} (full224: the committed ZFNet-224). Another trained "
            "model, exported with zflib.training.artifacts.export_run, is mined and drawn by "
            "python -m zflib.apps.mine --model NAME and shown by "
            "zflib.apps.explorer.app(models=[NAME])")
    root = repo_root()
    nb_dir = Path(notebooks) if notebooks else root / "notebooks"
    build_dir = Path(build) if build else root / "build"
    fig_dir = Path(figures or os.environ.get("ZF_FIGURES")
                   or figures_dir(profile, root=root, build=build_dir))
    todo = numbered_notebooks(nb_dir, only)
    if not todo:
        log(f"make figures: no numbered notebooks in {nb_dir}")
        return 1
    log(f"make figures: {len(todo)} notebooks, profile {profile}; executed copies in "
        f"{build_dir / 'notebooks' / profile}, figures in {fig_dir}")
    times: dict[str, float] = {}
    status, failed = 0, None
    start = time.perf_counter()
    for i, src in enumerate(todo, 1):
        before = _pngs(fig_dir)
        t = time.perf_counter()
        with _environ(ZF_FIGURES=str(fig_dir.resolve())):  # the kernel inherits it
            failure = run_notebook(src, build_dir / "notebooks" / profile / src.name, profile,
                                   kernel=kernel, timeout=timeout)
        seconds = time.perf_counter() - t
        if failure is not None:
            log(f"[{i}/{len(todo)}] {src.stem}: FAILED after {seconds:.1f} s")
            log(failure.message())
            status, failed = 1, src.stem
            break
        times[src.stem] = round(seconds, 1)
        after = _pngs(fig_dir)
        new = sorted(n for n, m in after.items() if before.get(n) != m)
        log(f"[{i}/{len(todo)}] {src.stem}: {seconds:.1f} s" +
            (f"  -> {', '.join(new)}" if new else ""))
    total = time.perf_counter() - start
    log(f"make figures: {len(times)} of {len(todo)} notebooks in {total:.1f} s "
        f"(profile {profile})" + ("" if status == 0 else "; stopped at the failure above"))
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / f"figures-{profile}.json"
    # when each notebook was timed, and how fast this machine was then (timings from different
    # days of a shared machine differ by 2x and more)
    from zflib.training.train import matmul_gflops

    stamp = f"{time.strftime('%Y-%m-%d %H:%M %Z')}, matmul {matmul_gflops():.0f} GFLOP/s"
    timed = dict.fromkeys(times, stamp)
    machine = _machine()
    if only and path.exists():  # a partial rerun updates the summary of the whole run
        earlier = json.loads(path.read_text())
        if earlier.get("machine", machine) != machine:  # say which notebooks ran where
            machine = (f"{earlier['machine']}; {', '.join(p.stem[:2] for p in todo)} on "
                       f"{machine}")
        times = {**earlier["notebooks_s"], **times}
        timed = {**dict.fromkeys(earlier["notebooks_s"], UNSTAMPED),
                 **earlier.get("timed", {}), **timed}
        # an earlier failure stands until its notebook has run again (an old summary that
        # does not name it stands until a whole run)
        before = earlier.get("failed", "" if earlier["ok"] else "unnamed")
        if failed is None and before and before not in {p.stem for p in todo}:
            failed = before
    if failed is not None:
        times.pop(failed, None)
        timed.pop(failed, None)
    summary = {"profile": profile, "ok": failed is None, "failed": failed,
               "total_s": round(sum(times.values()) if only else total, 1),
               "notebooks_s": dict(sorted(times.items())), "machine": machine,
               "timed": dict(sorted(timed.items()))}
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return status


def _machine() -> str:
    import torch

    from zflib.training.train import cpu_name

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} CPUs, {gpu}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zflib.paper.figures",
    description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick", choices=list(PROFILES))
    parser.add_argument("--only", nargs="+", default=(), metavar="NN",
                        help="run only these notebook numbers (e.g. 02 07)")
    parser.add_argument("--notebooks", default=None, help="folder of the notebooks")
    parser.add_argument("--build", default=None, help="folder for the executed notebooks")
    parser.add_argument("--figures", default=None,
                        help=f"folder for the PNGs (default: $ZF_FIGURES, else figures/ for "
                             f"{RECORD_PROFILE}, figures/224/ for full224, build/figures/PROFILE/ "
                             "for the others)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds allowed per cell (default: no limit)")
    args = parser.parse_args(argv)
    try:
        return run_all(args.profile, notebooks=args.notebooks, build=args.build,
                       figures=args.figures, only=args.only, kernel=args.kernel,
                       timeout=args.timeout)
    except ValueError as err:
        print(f"make figures: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
