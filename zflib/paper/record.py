"""``RESULTS.md``, generated (never typed) from the artifacts of a run of ``make figures``.

``python -m zflib.paper.record --profile full`` first copies what a ``make figures`` run of that
profile left in ``build/`` (the notebooks' results in ``build/results``, see
:mod:`zflib.results`, and the per-notebook times in ``build/figures-<profile>.json``, see
:mod:`zflib.paper.figures`) into the committed folder ``figures/record/``; then, from that folder,
``figures/*.png``, the committed training results in ``artifacts/`` and
``benchmarks/results/*.json``, it writes ``RESULTS.md``: every reproduced figure, and every
table with the paper's numbers beside ours, with the run's date, profile, hardware and time.
Because the record's inputs are committed, ``RESULTS.md`` can be rewritten (after a benchmark
rerun, say) without running the notebooks again.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zflib.config import repo_root
from zflib.paper.figures import UNSTAMPED
from zflib.paper.folders import default_out, figures_folder, record_dir
from zflib.paper.runs import results_of
from zflib.results import load_saved

Renderer = Callable[[Path, str], str]


def _fig6(results: Path, profile: str) -> str:
    from zflib.viz.architecture import fig6_markdown

    return fig6_markdown(load_saved("fig06_filters", results)["data"])


def _table1(results: Path, profile: str) -> str:
    from zflib.viz.correspondence import decomposition_markdown, models_markdown, table_markdown

    data = load_saved(f"table1_correspondence_{profile}", results)["data"]
    out = table_markdown(data) + "\n\n**Taken apart** (share of features changed; among " \
        "those two images both change, share changed in opposite directions):\n\n" + \
        decomposition_markdown(data)
    all_dogs = load_saved(f"table1_all_dogs_{profile}", results)["data"]
    models = load_saved(f"table1_models_{profile}", results)["data"]
    return (out + f"\n\n**All {all_dogs['images']} annotated dogs, taken apart:**\n\n"
            + decomposition_markdown(all_dogs)
            + f"\n\n**Layer 5 of each model ({all_dogs['images']} dogs):**\n\n"
            + models_markdown(models))


def _tables23(results: Path, profile: str) -> str:
    from zflib.viz.architecture import table2_markdown, table3_markdown

    data = load_saved("tables2_3", results)["data"]
    epochs = sorted({int(r["epochs"]) for r in data["table3"]})
    budget = (f"every row at {epochs[0]} epochs" if len(epochs) == 1 else
              f"a reduced budget of {epochs[-1]} epochs; rows with fewer were stopped by the "
              "run's wall-clock cap")
    return ("**Table 2** (10 crops, %):\n\n" + table2_markdown(data["table2"]) +
            f"\n\n**Table 3** ({budget}; 10 crops, %):\n\n" + table3_markdown(data["table3"]))


def _table4(results: Path, profile: str) -> str:
    from zflib.viz.transfer import fig9_markdown, table4_markdown

    data = load_saved(f"table4_fig9_caltech101_{profile}", results)["data"]
    return f"{table4_markdown(data)}\n\nFig. 9's points:\n\n{fig9_markdown(data)}"


def _table7(results: Path, profile: str) -> str:
    from zflib.viz.transfer import table7_markdown

    return table7_markdown(load_saved(f"table7_caltech101_{profile}", results)["data"])


# (heading, PNG name prefixes, renderer of the section's numbers)
SECTIONS: list[tuple[str, tuple[str, ...], Renderer | None]] = [
    ("Figure 1: unpooling with switches", ("fig01",), None),
    ("Figure 2: top-9 activations, projected, beside their patches", ("fig02",), None),
    ("Figure 3: the architecture, measured by a forward pass", ("fig03",), None),
    ("Figure 4: evolution of features over training", ("fig04",), None),
    ("Figure 5: invariance to translation, scale and rotation", ("fig05",), None),
    ("Figure 6: first-layer filters; AlexNet against ZFNet", ("fig06",), _fig6),
    ("Figure 7: occlusion sensitivity", ("fig07",), None),
    ("Figure 8 and Table 1: correspondence", ("fig08",), _table1),
    ("Tables 2 and 3: ZFNet against AlexNet; ablations", ("table2", "table3"), _tables23),
    ("Table 4 and Figure 9: Caltech-101 transfer", ("table4", "fig09"), _table4),
    ("Table 7: each layer's features on Caltech-101", ("table7", "table07"), _table7),
]


# The committed training runs behind each geometry's figures (Config.size)
TRAINING_RUNS = {64: ("zfnet64", "alexnet64", "zfnet64-norenorm", "zfnet64-paper-sgd",
                      "zfnet64-paper-sgd-norenorm"),
                 224: ("zfnet224", "alexnet224", "zfnet224-paper-sgd")}


def _training_facts(profile: str) -> str:
    from zflib.config import get_config
    from zflib.paper.scratch import artifact_path, load_baseline

    lines = ["| run | epochs | hardware | training time | val top-1 / top-5 error (10 crops) |",
             "| --- | --- | --- | --- | --- |"]
    for name in TRAINING_RUNS[get_config(profile).size]:
        r = results_of(name)
        lines.append(f"| {name} | {r['epochs']} | {r['machine']} | "
                     f"{r['train_seconds'] / 60:.1f} min | {100 * r['val_top1_err_10crop']:.1f}%"
                     f" / {100 * r['val_top5_err_10crop']:.1f}% |")
    path = artifact_path(profile)
    if path.exists():  # Table 4's from-scratch baseline, trained apart from the notebooks
        b = load_baseline(path)
        total = sum(r["seconds"] for r in b["runs"])  # the runs of earlier calls included
        lines.append(f"| Caltech-101 from scratch ({len(b['runs'])} runs, Table 4 and Fig. 9) | "
                     f"{b['epochs']:g} | {b['machine']} | {total / 60:.1f} min in all runs, "
                     f"one thread each | - |")
    return "\n".join(lines)


def _benchmarks(folder: Path) -> str:
    lines = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        vals = ", ".join(f"`{k}` {v:.3g}" for k, v in data.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool))
        lines.append(f"- `{path.stem}` ({data.get('machine', '?')}): {vals}")
    return "\n".join(lines)


def _timings(timed: dict[str, str]) -> list[str]:
    """``{notebook: when}`` grouped by run: ``["01, 02: <when>", ...]``, the earliest first
    (notebooks of a summary that predates these stamps come first, as "an earlier run")."""
    stamps = sorted(set(timed.values()), key=lambda s: (s != UNSTAMPED, s))
    if len(stamps) == 1:
        return [stamps[0]]
    return [", ".join(k.split("_")[0] for k, v in timed.items() if v == s) + f": {s}"
            for s in stamps]


def relative_paths(data: Any, root: Path) -> Any:
    """``data`` (JSON: dicts, lists, strings) with every absolute path inside ``root`` made
    relative to it: a committed record holds no machine's absolute paths."""
    if isinstance(data, dict):
        return {k: relative_paths(v, root) for k, v in data.items()}
    if isinstance(data, list):
        return [relative_paths(v, root) for v in data]
    if isinstance(data, str) and data.startswith(str(root) + "/"):
        return Path(data).relative_to(root).as_posix()
    return data


def _copy_json(src: Path, dest: Path, root: Path) -> None:
    dest.write_text(json.dumps(relative_paths(json.loads(src.read_text()), root), indent=1)
                    + "\n")


def collect(profile: str, *, root: Path | None = None) -> list[str]:
    """Copy the outputs of a ``make figures`` run of ``profile`` from ``build/`` into
    :func:`record_dir`: ``figures-<profile>.json`` and the results JSON that this profile
    wrote (each names its profile), absolute paths inside the repository made relative
    (:func:`relative_paths`). Returns the names copied; none if ``build/`` holds no
    run of ``profile``."""
    root = root or repo_root()
    run = root / "build" / f"figures-{profile}.json"
    if not run.exists():
        return []
    dest = record_dir(root, profile) / "results"
    dest.mkdir(parents=True, exist_ok=True)
    _copy_json(run, record_dir(root, profile) / run.name, root)
    copied = [run.name]
    for path in sorted((root / "build" / "results").glob("*.json")):
        if json.loads(path.read_text()).get("profile") == profile:
            _copy_json(path, dest / path.name, root)
            copied.append(path.name)
    return copied


def build_record(profile: str, *, root: Path | None = None) -> str:
    """The text of ``RESULTS.md`` for a ``make figures`` run of ``profile`` (its inputs in
    :func:`record_dir`, see :func:`collect`)."""
    root = root or repo_root()
    results, figures = record_dir(root, profile) / "results", figures_folder(profile, root)
    run_file = record_dir(root, profile) / f"figures-{profile}.json"
    if not run_file.exists():
        raise FileNotFoundError(f"no record of a {profile!r} run in {record_dir(root, profile)}"
                                f"; run `make figures PROFILE={profile}` first")
    run = json.loads(run_file.read_text())
    runs = _timings(run.get("timed", {}))
    out = [f"# Results ({profile} profile)", "",
           "Generated by `python -m zflib.paper.record` from the artifacts of `make figures "
           f"PROFILE={profile}`; do not edit by hand.", "",
           f"- Record written: {time.strftime('%Y-%m-%d %H:%M %Z')} (each table's run date: "
           "[where the numbers come from](#where-the-numbers-come-from))",
           f"- Figures: {run['machine']}, {run['total_s'] / 60:.1f} min "
           f"for {len(run['notebooks_s'])} notebooks"
           f"{f' (the sum over {len(runs)} runs)' if len(runs) > 1 else ''}"
           f"{'' if run['ok'] else ' (STOPPED AT A FAILURE)'}",
           "- Training (the committed runs behind the figures):", "", _training_facts(profile), "",
           "Time per notebook: " + ", ".join(f"{k} {v:.0f} s"
                                             for k, v in run["notebooks_s"].items()),
           "", *([f"Timed in {len(runs)} runs of `make figures` (a partial rerun, `ONLY=`, "
                  "replaces its notebooks' times; the machine's matmul speed says how fast it "
                  "was that day): " + "; ".join(runs) + ".", ""] if len(runs) > 1 else
                 [f"Timed {runs[0]}.", ""] if runs else [])]
    from zflib.paper.claims import markdown as claims_markdown

    out += ["## The paper's claims at both geometries", "",
            "Each checked by a stated rule (`zflib.paper.claims`) on the committed records of both "
            "profiles, `full` (ZFNet-64) and `full224` (ZFNet-224):", "",
            claims_markdown(root), ""]
    for heading, prefixes, render in SECTIONS:
        pngs = sorted(p for p in figures.glob("*.png") if p.name.startswith(prefixes))
        out += [f"## {heading}", ""]
        out += [f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in pngs] or [
            "(no figure produced)"]
        out.append("")
        if render is not None:
            try:
                out += [render(results, profile), ""]
            except FileNotFoundError as err:
                out += [f"(numbers missing: {err})", ""]
    out += ["## Benchmarks", "", _benchmarks(root / "benchmarks" / "results"), ""]
    out += ["## Where the numbers come from", "", _sources(results, root), ""]
    return "\n".join(out)


def _sources(results: Path, root: Path) -> str:
    """Each results file the tables were read from, with the date its notebook wrote it (a
    file kept from an earlier run, after a later one stopped early, shows its own date)."""
    rows = ["| results file | written by its notebook |", "| --- | --- |"]
    for path in sorted(results.glob("*.json")):
        rows.append(f"| `{path.relative_to(root).as_posix()}` | "
                    f"{json.loads(path.read_text()).get('date', '?')} |")
    return "\n".join(rows) if len(rows) > 2 else "(no results collected)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.paper.record",
                                description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="full")
    p.add_argument("--out", default=None,
                   help="default: RESULTS.md for full, RESULTS-<profile>.md for another")
    p.add_argument("--no-collect", action="store_true",
                   help="render from figures/record as it is; do not copy from build/")
    args = p.parse_args(argv)
    if not args.no_collect:
        copied = collect(args.profile)
        folder = record_dir(profile=args.profile)
        print(f"copied {len(copied)} files from build/ to {folder}" if copied else
              f"no {args.profile} run in build/; rendering from {folder}")
    args.out = args.out or str(default_out(args.profile))
    Path(args.out).write_text(build_record(args.profile))
    print(f"wrote {args.out}")
    from zflib.paper import quotes

    for path in quotes.refresh_documents():  # the numbers README.md, docs/, notebooks quote
        print(f"refreshed the quoted numbers of {path.relative_to(repo_root())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
