"""zflib.paper.runs: only runs trained to their last epoch are exported over the artifacts; bad
arguments are refused before anything trains."""

from __future__ import annotations

import json

import pytest

from zflib.paper import runs


def _results(tmp_path, name: str, epochs: int) -> None:
    rd = runs.run_dir(name, "full")
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "results.json").write_text(json.dumps({"epochs": epochs, "val_top1_err_10crop": 0.7}))


def test_export_leaves_out_unfinished_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    done, stopped = "ablation-zfnet64-fc2048", "ablation-alexnet64-no7"  # 10 epochs each
    _results(tmp_path, done, runs.ABLATION_EPOCHS)
    _results(tmp_path, stopped, 3)  # as --minutes leaves a run
    assert runs.export([done, stopped, "table3-zfnet64"], "full") == [done]
    out = capsys.readouterr().out
    assert f"{stopped}: stopped at epoch 3 of 10, not exported" in out
    assert "table3-zfnet64: no results, not exported" in out
    assert (tmp_path / "artifacts" / "runs" / done / "results.json").exists()
    assert not (tmp_path / "artifacts" / "runs" / stopped).exists()
    assert runs.main(["--no-train", "--only", done, stopped]) == 1  # not all exported
    assert runs.main(["--no-train", "--only", done]) == 0


@pytest.mark.parametrize("args, message", [
    (["--parallel", "0"], "--parallel 0 out of range 1.."),
    (["--minutes", "-1"], "--minutes -1.0 out of range 0.."),
    (["--only", "zfnet65"], "unknown runs ['zfnet65']"),
])
def test_bad_arguments_are_refused(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        runs.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_run_of_another_profile_does_not_replace_an_artifact(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    name = "ablation-zfnet64-fc2048"
    committed = tmp_path / "artifacts" / "runs" / name / "results.json"
    committed.parent.mkdir(parents=True)
    committed.write_text(json.dumps({"epochs": 10, "config": {"profile": "full"}}))
    rd = runs.run_dir(name, "smoke")
    rd.mkdir(parents=True)
    epochs = runs.get_config("smoke", **runs.RUNS[name].overrides).epochs
    (rd / "results.json").write_text(json.dumps({"epochs": epochs,
                                                 "config": {"profile": "smoke"}}))
    assert runs.export([name], "smoke") == []
    assert "holds a full run, not replaced by this smoke run" in capsys.readouterr().out
    assert json.loads(committed.read_text())["config"]["profile"] == "full"
    _results(tmp_path, name, runs.ABLATION_EPOCHS)  # the same profile replaces it
    assert runs.export([name], "full") == [name]


@pytest.mark.parametrize("args, message", [
    (["--profile", "fast", "--no-train"], "argument --profile: invalid choice: 'fast'"),
    (["--only"], "argument --only: expected at least one argument"),  # was: every run
])
def test_bad_profile_or_empty_only_is_refused(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        runs.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err
