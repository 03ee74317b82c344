"""zflib.training.gpu_run end to end on the CPU: shards packed, carried in one call at a time
(each call's folder replaced, as the device tool does), trained after the last, a run cut by
--minutes resumed by the next call, the weights brought back in chunks and assembled into
artifacts that load; a repeated call trains nothing."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import fake_entries

from zflib.data.shards import pack_shards
from zflib.training import gpu_run
from zflib.training.artifacts import load_trained

ARGS = ["--runs", "zfnet224,alexnet224", "--epochs", "1", "--device", "cpu", "--workers", "1",
        "--set", "batch_size=8", "--set", "eval_batch_size=16", "--set", "ablation=no67"]


def call(store, *extra):
    return gpu_run.main(["device", "--store", str(store), *ARGS, *extra])


def test_dry_run_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gpu_run, "CHUNK_MIB", 2.0)  # ZFNet-224 (no fc6-7) back in 3 calls
    entries, _, _ = fake_entries(tmp_path, natural=22, tiny=18, val=6,
                                 sources=("tiny-imagenet", "imagewoof2"))
    shards = tmp_path / "shards"
    pack_shards(entries, shards, classes=list("abcde"), names=list("ABCDE"),
                sources=["tiny-imagenet", "imagewoof2"], size=256, quality=95, part_mib=0.05)
    calls = gpu_run.plan_calls(shards, tree_bytes=0, limit_mib=0.11)
    assert len(calls) >= 3
    store, carry = tmp_path / "store", tmp_path / "carry"
    for i, files in enumerate(calls):
        shutil.rmtree(carry, ignore_errors=True)  # each call's carried folder replaces the last
        carry.mkdir()
        for f in ["manifest.json", *files]:
            shutil.copyfile(shards / f, carry / f)
        extra = ["--minutes", "0.0001"] if i == len(calls) - 1 else []
        assert call(store, "--take", str(carry), *extra) == 0
        out = capsys.readouterr().out
        if i < len(calls) - 1:
            assert "still to come" in out and "training" not in out
    # the last call's data completed the set; its deadline stopped zfnet224 after a step
    assert "zfnet224: stopped at epoch 0 of 1 (--minutes); the next call resumes it" in out
    assert "sync check" not in out  # on a GPU only
    assert call(store) == 0
    out = capsys.readouterr().out
    assert "zfnet224: resuming at epoch 0" in out and "alexnet224: starting" in out
    assert "export: " in out and "call(s)" in out
    res = json.loads((store / "export" / "zfnet224" / "results.json").read_text())
    assert res["config"]["first_layer_std"] == gpu_run.FIRST_LAYER_STD
    assert {"val_top1_err_10crop_imagewoof2", "val_images_imagewoof2"} <= res.keys()
    assert call(store) == 0  # nothing left to do: nothing retrained
    assert "starting" not in capsys.readouterr().out

    info = json.loads((store / "bundle" / "bundle.json").read_text())
    assert info["calls"] >= 2
    outs = []
    for k in range(info["calls"]):
        outs.append(tmp_path / f"out{k}")
        assert call(store, "--no-train", "--export-part", str(k), "--out", str(outs[-1])) == 0
        files = list(outs[-1].iterdir())
        assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2 ** 20 for f in files)
    assert call(store, "--no-train", "--export-part", str(info["calls"]), "--out",
                str(tmp_path / "none")) == 2  # a part past the last
    assert f"out of range 0..{info['calls'] - 1}" in capsys.readouterr().out
    short = tmp_path / "short"
    shutil.copytree(outs[-1], short)
    (short / sorted(p.name for p in short.glob("bundle.tar.*"))[0]).unlink()
    with pytest.raises(FileNotFoundError, match="chunk\\(s\\) missing"):
        gpu_run.assemble([*outs[:-1], short], tmp_path / "x")
    dest = tmp_path / "artifacts"
    got = gpu_run.assemble(outs, dest)
    assert (dest / "zfnet224" / "model.pt") in got and (dest / "alexnet224" / "conv.pt") in got
    assert (dest / "device.log").read_text().count("zfnet224: starting") == 1
    for name in ("zfnet224", "alexnet224"):
        a = (dest / name / ("model.pt" if name == "zfnet224" else "conv.pt")).read_bytes()
        b = (store / "export" / name / ("model.pt" if name == "zfnet224" else "conv.pt"))
        assert a == b.read_bytes()
    monkeypatch.setenv("ZF_ARTIFACTS", str(dest))
    z = load_trained("zfnet224")
    assert z.complete and z.model.num_classes == 5
    last = torch.load(store / "runs" / "zfnet224" / "last.pt", weights_only=False)["model"]
    w = z.model.state_dict()["features.0.weight"]
    assert torch.equal(w, last["features.0.weight"].half().float())  # conv1 as trained, fp16


def test_cli_refuses_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit):
        gpu_run.main(["device", "--store", str(tmp_path), "--runs", "zfnet999"])
    assert "unknown run(s) ['zfnet999']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_run.main(["device", "--store", str(tmp_path), "--set", "lr=-1"])
    assert "lr -1" in capsys.readouterr().err
    assert gpu_run.main(["device", "--store", str(tmp_path / "empty")]) == 2
    assert "manifest.json" in capsys.readouterr().out
