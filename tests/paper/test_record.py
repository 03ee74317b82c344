"""zflib.paper.record: RESULTS.md is built from what a figures run left, tables included."""

import json

import pytest

from zflib.paper.architecture import table2, table3
from zflib.paper.record import build_record, collect, record_dir
from zflib.results import save_results
from zflib.training.artifacts import load_results


def _figures_run(root, profile, figures, notebooks_s, pngs, *, machine="m", total_s=60.0):
    """What ``make figures PROFILE=profile`` leaves: ``pngs`` in ``figures`` (a folder under
    root), its summary and the tables JSON in build/."""
    (root / figures).mkdir(parents=True, exist_ok=True)
    for name in pngs:
        (root / figures / name).write_bytes(b"png")
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / f"figures-{profile}.json").write_text(json.dumps(
        {"profile": profile, "ok": True, "total_s": total_s, "machine": machine,
         "notebooks_s": notebooks_s}))
    save_results({"table2": table2(), "table3": table3()}, "tables2_3", root / "build" / "results",
                 profile=profile)


def test_record_embeds_figures_and_tables(tmp_path):
    _figures_run(tmp_path, "smoke", "figures",
                 {"02_fig2_top9": 12.0}, ["fig02_top9_layer1.png"],
                 machine="test machine", total_s=90.0)
    save_results({"x": 1}, "table7_caltech101_quick", tmp_path / "build" / "results",
                 profile="quick")  # another profile's: not part of this record
    with pytest.raises(FileNotFoundError, match="make figures PROFILE=smoke"):
        build_record("smoke", root=tmp_path)  # nothing collected yet
    assert collect("smoke", root=tmp_path) == ["figures-smoke.json", "tables2_3.json"]
    assert collect("quick", root=tmp_path) == []  # no quick run in build/
    text = build_record("smoke", root=tmp_path)
    assert "![fig02_top9_layer1](figures/fig02_top9_layer1.png)" in text
    assert "02_fig2_top9 12 s" in text and "test machine" in text
    assert "| 38.4 | 16.5 |" in text  # the paper's Table 2 beside ours
    assert "numbers missing" in text  # the sections whose notebooks did not run say so
    assert load_results("zfnet64")["machine"] in text  # the committed runs' training hardware


def test_record_renders_from_committed_inputs_alone(tmp_path):
    """Once collected, build/ can go: RESULTS.md is rebuilt from figures/record."""
    (tmp_path / "build" / "results").mkdir(parents=True)
    (tmp_path / "figures").mkdir()
    (tmp_path / "build" / "figures-full.json").write_text(json.dumps(
        {"profile": "full", "ok": False, "total_s": 60.0, "machine": "m",
         "notebooks_s": {"09_tables2_3_architecture": 60.0}}))
    save_results({"table2": table2(), "table3": table3()}, "tables2_3",
                 tmp_path / "build" / "results", profile="full")
    collect("full", root=tmp_path)
    for p in (tmp_path / "build").rglob("*.json"):
        p.unlink()
    assert (record_dir(tmp_path) / "results" / "tables2_3.json").exists()
    text = build_record("full", root=tmp_path)
    assert "STOPPED AT A FAILURE" in text and "| 38.4 | 16.5 |" in text
    written = json.loads((record_dir(tmp_path) / "results" / "tables2_3.json").read_text())
    assert f"| `figures/record/results/tables2_3.json` | {written['date']} |" in text


def test_record_says_which_runs_timed_which_notebooks(tmp_path):
    """A partial rerun's times sit beside an earlier run's: the record groups them by run."""
    (tmp_path / "figures").mkdir()
    (tmp_path / "build").mkdir()
    stamp = "2026-01-02 03:04 UTC, matmul 94 GFLOP/s"
    (tmp_path / "build" / "figures-full.json").write_text(json.dumps(
        {"profile": "full", "ok": True, "total_s": 30.0, "machine": "m",
         "notebooks_s": {"01_fig1_unpooling": 10.0, "04_fig4_evolution": 20.0},
         "timed": {"01_fig1_unpooling": "an earlier run", "04_fig4_evolution": stamp}}))
    collect("full", root=tmp_path)
    text = build_record("full", root=tmp_path)
    assert "0.5 min for 2 notebooks (the sum over 2 runs)" in text
    assert f"01: an earlier run; 04: {stamp}." in text
    (tmp_path / "build" / "figures-full.json").write_text(json.dumps(
        {"profile": "full", "ok": True, "total_s": 10.0, "machine": "m",
         "notebooks_s": {"01_fig1_unpooling": 10.0}, "timed": {"01_fig1_unpooling": stamp}}))
    collect("full", root=tmp_path)
    text = build_record("full", root=tmp_path)
    assert f"Timed {stamp}." in text and "the sum over" not in text


def test_collected_records_hold_paths_relative_to_the_repository(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "figures-full.json").write_text(json.dumps(
        {"profile": "full", "ok": True, "total_s": 1.0, "machine": "m", "notebooks_s": {}}))
    inside = f"{tmp_path}/artifacts/transfer/caltech101-scratch-full.json"
    save_results({"scratch_source": inside, "runs": [{"data": f"{tmp_path}/build/x.pt"}],
                  "outside": "/elsewhere/file.json", "note": f"see {tmp_path}/a"},
                 "table4_fig9_caltech101_full", tmp_path / "build" / "results", profile="full")
    collect("full", root=tmp_path)
    saved = json.loads((record_dir(tmp_path) / "results" /
                        "table4_fig9_caltech101_full.json").read_text())["data"]
    assert saved["scratch_source"] == "artifacts/transfer/caltech101-scratch-full.json"
    assert saved["runs"] == [{"data": "build/x.pt"}]
    # a path outside the repository, and prose that only mentions one, stay as they are
    assert saved["outside"] == "/elsewhere/file.json" and saved["note"] == f"see {tmp_path}/a"


def test_no_committed_record_holds_an_absolute_path():
    import re
    import subprocess

    from zflib.config import repo_root

    root = repo_root()
    files = subprocess.run(["git", "ls-files", "*.json"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split()
    assert files, "git lists no JSON files"
    absolute = re.compile(r'"(/(?:home|root|work|tmp|Users|mnt|opt|var)/[^"]*)"')
    found = {f: absolute.findall((root / f).read_text()) for f in files}
    assert {f: p for f, p in found.items() if p} == {}


def test_the_224_pixel_record_has_its_own_folder_and_training_runs(tmp_path):
    """make figures PROFILE=full224 writes figures/224/: its record is collected into
    figures/224/record (the 64-pixel record's inputs stay), links those PNGs and lists the
    224-pixel training runs."""
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig06_filters.png").write_bytes(b"png")
    _figures_run(tmp_path, "full224", "figures/224",
                 {"06_fig6_filters": 60.0}, ["fig06_filters.png"])
    assert collect("full224", root=tmp_path) == ["figures-full224.json", "tables2_3.json"]
    assert (tmp_path / "figures" / "224" / "record" / "results" / "tables2_3.json").exists()
    assert not record_dir(tmp_path).exists()  # the 64-pixel record is untouched
    text = build_record("full224", root=tmp_path)
    assert "![fig06_filters](figures/224/fig06_filters.png)" in text
    assert "](figures/fig06_filters.png)" not in text
    assert "| zfnet224 | 14 |" in text and "| zfnet64 |" not in text
    assert "`figures/224/record/results/tables2_3.json`" in text
