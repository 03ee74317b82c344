"""zflib.paper.architecture: Tables 2 and 3 read the committed runs faithfully."""

import json

from zflib.paper.architecture import PAPER_TABLE3, table2, table3
from zflib.paper.runs import ABLATION_EPOCHS, RUNS
from zflib.training.artifacts import artifacts_dir
from zflib.viz.architecture import table2_markdown, table3_markdown


def _committed(name: str) -> dict:
    """A run's results.json, read from the artifact folder where ``zflib.paper.runs`` exports it."""
    for path in (artifacts_dir() / name / "results.json",
                 artifacts_dir() / "runs" / name / "results.json"):
        if path.exists():
            return json.loads(path.read_text())
    raise AssertionError(f"no committed results for {name}")


def test_table2_is_the_committed_10crop_error():
    rows = table2()
    md = table2_markdown(rows)
    runs = ["alexnet64", "zfnet64", "zfnet64-paper-sgd", "alexnet224", "zfnet224",
            "zfnet224-paper-sgd"]
    assert len(rows) == len(runs) and md.count("\n") == len(rows) + 1
    for row, name in zip(rows, runs, strict=True):
        raw = _committed(name)
        assert row["epochs"] == raw["epochs"]
        assert row["val_top1"] == 100 * raw["val_top1_err_10crop"]
        assert row["val_top5"] == 100 * raw["val_top5_err_10crop"]
        assert (f"| {raw['epochs']} | {100 * raw['val_top1_err_10crop']:.1f} | "
                f"{100 * raw['val_top5_err_10crop']:.1f} |") in md, name
    assert "| 38.4 | 16.5 |" in md and "| 40.5 | 18.1 |" in md  # the paper's Table 2


def test_table3_has_every_ablation_at_the_reduced_budget():
    rows = table3()
    ablations = {n for n in RUNS if n.startswith("ablation-")}
    references = {n for n in RUNS if n.startswith("table3-")}
    assert {r["run"] for r in rows} == ablations | references == set(PAPER_TABLE3)
    assert all(ABLATION_EPOCHS - 1 <= r["epochs"] <= ABLATION_EPOCHS for r in rows)
    md = table3_markdown(rows)
    assert md.count("\n") == len(rows) + 1 and "| 71.1 | 71.3 | 50.1 |" in md
    for r in rows:  # ours: each run's own committed results.json, column by column
        raw = _committed(r["run"])
        ours = [100 * raw[k] for k in ("train_top1_err", "val_top1_err_10crop",
                                       "val_top5_err_10crop")]
        assert [r["train_top1"], r["val_top1"], r["val_top5"]] == ours, r["run"]
        assert r["epochs"] == raw["epochs"]
        assert ("| " + " | ".join(f"{v:.1f}" for v in ours + list(PAPER_TABLE3[r["run"]]))
                + " |") in md, r["run"]


def test_learning_curves_read_every_epoch_of_each_run():
    """Table 2's figure: each run's committed history, a row per epoch; the 224-pixel run
    without renormalisation has only its metrics.jsonl (its weights never came back)."""
    from zflib.paper.architecture import CURVES, learning_curves
    from zflib.viz.architecture import plot_learning_curves

    groups = learning_curves()
    assert list(groups) == list(CURVES)
    for curves in groups.values():
        for name, hist in curves.items():
            assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1)), name
    norenorm = groups[list(CURVES)[1]]["zfnet224-paper-sgd-norenorm"]
    lines = (artifacts_dir() / "zfnet224-paper-sgd-norenorm" / "metrics.jsonl").read_text()
    assert norenorm == [json.loads(line) for line in lines.splitlines()] and len(norenorm) == 2
    fig = plot_learning_curves(groups)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 8 for ax in fig.axes)
