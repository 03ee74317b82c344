"""zflib.architecture: Tables 2 and 3 read the committed runs faithfully."""

import json

from zflib.architecture import PAPER_TABLE3, table2, table3
from zflib.artifacts import artifacts_dir
from zflib.runs import ABLATION_EPOCHS, RUNS
from zflib.viz.architecture import table2_markdown, table3_markdown


def test_table2_is_the_committed_10crop_error():
    rows = table2()
    raw = json.loads((artifacts_dir() / "zfnet64" / "results.json").read_text())
    assert rows[1]["val_top1"] == 100 * raw["val_top1_err_10crop"]
    assert "| 38.4 | 16.5 |" in table2_markdown(rows)


def test_table3_has_every_ablation_at_the_reduced_budget():
    rows = table3()
    ablations = {n for n in RUNS if n.startswith("ablation-")}
    references = {n for n in RUNS if n.startswith("table3-")}
    assert {r["run"] for r in rows} == ablations | references == set(PAPER_TABLE3)
    assert all(ABLATION_EPOCHS - 1 <= r["epochs"] <= ABLATION_EPOCHS for r in rows)
    md = table3_markdown(rows)
    assert md.count("\n") == len(rows) + 1 and "| 71.1 | 71.3 | 50.1 |" in md
