"""zflib.record: RESULTS.md is built from what a figures run left, tables included."""

import json

from zflib.architecture import table2, table3
from zflib.record import build_record
from zflib.results import save_results


def test_record_embeds_figures_and_tables(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig02_top9_layer1.png").write_bytes(b"png")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "figures-smoke.json").write_text(json.dumps(
        {"profile": "smoke", "ok": True, "total_s": 90.0, "machine": "test machine",
         "notebooks_s": {"02_fig2_top9": 12.0}}))
    save_results({"table2": table2(), "table3": table3()}, "tables2_3",
                 tmp_path / "build" / "results", profile="smoke")
    text = build_record("smoke", root=tmp_path)
    assert "![fig02_top9_layer1](figures/fig02_top9_layer1.png)" in text
    assert "02_fig2_top9 12 s" in text and "test machine" in text
    assert "| 38.4 | 16.5 |" in text  # the paper's Table 2 beside ours
    assert "numbers missing" in text  # the sections whose notebooks did not run say so
    assert "NVIDIA H200" in text  # the training hardware of the committed runs
