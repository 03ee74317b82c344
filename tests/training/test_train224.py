"""zflib.training.train224 (Table 2 at Fig. 3's geometry), the cosine schedule and label smoothing
of zflib.training.train, and the int8 artifacts of zflib.training.artifacts: on the CPU, with a few
random 256-px images standing in for Tiny ImageNet."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from zflib.config import get_config
from zflib.data import ImageSet
from zflib.training import train224
from zflib.training.artifacts import dequantize_rows, load_trained, quantize_rows, save_trained
from zflib.training.models import build_model
from zflib.training.train import Trainer, scheduled_lr, update


def test_cosine_schedule_warms_up_then_falls_to_min_lr():
    cfg = get_config("full224", epochs=3, keep_epochs=(3,), lr=1e-3, min_lr=1e-6,
                     warmup_epochs=1.0)
    per = 10
    lrs = [scheduled_lr(cfg, s, per) for s in range(30)]
    assert lrs[:10] == pytest.approx([1e-3 * (s + 1) / 10 for s in range(10)])
    assert lrs[10] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-6)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert scheduled_lr(cfg, 19, per) == pytest.approx(  # 9 of the cosine's 19 steps
        1e-6 + (1e-3 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 9 / 19)))


def _fake(n: int, classes: int = 200, size: int = 256) -> ImageSet:
    g = torch.Generator().manual_seed(n)
    names = [str(i) for i in range(classes)]
    return ImageSet(torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g),
                    torch.randint(0, classes, (n,), generator=g), names, names, [""] * n)


SMALL = {"batch_size": 4, "eval_batch_size": 8}


def test_trainer_sets_the_scheduled_lr_and_smooths_labels(tmp_path):
    cfg = get_config("full224", epochs=2, keep_epochs=(2,), **SMALL, label_smoothing=0.1,
                     dropout=0.0)
    t = Trainer(cfg, tmp_path / "run", device="cpu", train=_fake(8), val=_fake(4),
                progress=False)
    x, y = t.batch(0, 0)
    with torch.no_grad():
        logits = t.model.train()(x)
    loss = update(t.net, t.model, t.opt, x, y, cfg, amp=False)[0]
    assert loss == pytest.approx(F.cross_entropy(logits, y, label_smoothing=0.1).item(), 1e-5)
    assert abs(loss - F.cross_entropy(logits, y)) > 1e-3  # not the plain cross-entropy
    t.train_step(*t.batch(0, 1))
    t.global_step = 1
    t.train_step(*t.batch(0, 1))
    assert t.lr == pytest.approx(scheduled_lr(cfg, 1, t.steps_per_epoch))


def test_int8_rows_round_trip_within_half_a_step():
    w = torch.randn(16, 3, 5, 5)
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (16,)
    err = (dequantize_rows(q, scale) - w).abs().flatten(1).amax(1)
    assert torch.all(err <= scale / 2 + 1e-7)
    assert torch.equal(q.flatten(1).abs().amax(1), torch.full((16,), 127, dtype=torch.int8))


def test_int8_artifact_loads_as_its_dequantized_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=224)
    cfg = get_config("full224")
    mean = torch.rand(3, 256, 256) * 255
    path = save_trained(model, mean, cfg, "z", int8="linear")
    got = load_trained("z")
    assert got.complete and torch.equal(got.mean, mean)
    sd, own = got.model.state_dict(), model.state_dict()
    for k, v in own.items():
        if k.startswith("classifier.") and k.endswith("weight"):
            assert torch.equal(sd[k], dequantize_rows(*quantize_rows(v)))
        else:
            assert torch.equal(sd[k], v.half().float()), k
    # fc6-fc8 in int8: about a quarter of the fp16 file
    fp16 = save_trained(model, mean, cfg, "f")
    assert path.stat().st_size < 0.6 * fp16.stat().st_size
    with pytest.raises(ValueError, match="int8 'some' not valid"):
        save_trained(model, mean, cfg, "z", int8="some")


def test_train224_trains_resumes_and_exports(tmp_path, monkeypatch, capsys):
    """The plan end to end on 12 random images: each run trains, a second command finds it
    done, the export loads with load_trained and records the int8 model's error."""
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))
    data = (_fake(8), _fake(4))
    monkeypatch.setattr(train224, "load_data", lambda cfg, device: data)
    args = ["--runs", "zfnet224,zfnet224-paper-sgd", "--epochs", "1", "--short-epochs", "1",
            "--set", "batch_size=4", "--set", "eval_batch_size=8", "--device", "cpu"]
    assert train224.main([*args, "--export", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "zfnet224: starting" in out and "zfnet224-paper-sgd: starting" in out
    res = json.loads((tmp_path / "out" / "zfnet224" / "results.json").read_text())
    assert res["epochs"] == 1 and 0 <= res["val_top1_err_10crop_int8"] <= 1
    assert res["config"]["profile"] == "full224" and res["config"]["batch_size"] == 4
    paper = json.loads((tmp_path / "out" / "zfnet224-paper-sgd" / "results.json").read_text())
    assert paper["config"]["optimizer"] == "sgd" and paper["config"]["input_scale"] == 1.0
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "out"))
    assert load_trained("zfnet224").complete
    assert not load_trained("zfnet224-paper-sgd").complete  # conv layers only
    assert train224.main(args) == 0  # again: nothing is retrained
    assert "zfnet224: done earlier (1 epochs)" in capsys.readouterr().out


def test_train224_cli_refuses_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        train224.main(["--runs", "zfnet999"])
    assert "unknown run(s) ['zfnet999']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train224.main(["--epochs", "0"])
    assert "--epochs 0 out of range 1.." in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train224.main(["--set", "lr=-1"])
    assert "lr -1" in capsys.readouterr().err
