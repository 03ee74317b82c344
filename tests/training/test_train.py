"""zflib.training.train: a killed run resumes to the same weights, checkpoints are refused when they
belong to another model, metrics and kept epochs are written, the paper's recipe is the
``paper`` profile's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import N_CLASSES

from zflib.checkpoint import load_state
from zflib.config import get_config
from zflib.training.models import build_model
from zflib.training.train import Trainer, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# layers 6 and 7 removed (Table 3's ablation): every conv layer kept, checkpoints of 45 MB
# instead of 360 MB (CI machines have little disk)
SMALL = dict(ablation="no67")
OVERRIDES = dict(num_classes=N_CLASSES, train_per_class=0, val_limit=0, batch_size=8, epochs=2,
                 checkpoint_every=2, keep_epochs=(1, 2), num_threads=1, **SMALL)


def _cli_args(run_dir):
    args = [sys.executable, "-m", "zflib.training.train", "--profile", "smoke", "--run-dir",
            str(run_dir)]
    for k, v in OVERRIDES.items():
        args += ["--set", f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"]
    return args


def test_killed_run_resumes_to_the_same_weights(tiny_home, tmp_path):
    cfg = get_config("smoke", **OVERRIDES)
    ref = train(cfg, tmp_path / "ref", progress=False)
    total = ref.global_step

    run_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cli_args(run_dir), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    step, deadline = 0, time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if (run_dir / "last.pt").exists():
                try:
                    step = torch.load(run_dir / "last.pt", weights_only=True)["global_step"]
                except (RuntimeError, EOFError, KeyError):
                    step = 0
                if step >= 4:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.05)
    finally:
        proc.wait(timeout=60)
    assert 4 <= step < total, f"the run was not killed mid-way (step {step} of {total})"

    resumed = Trainer(cfg, run_dir, progress=False)
    assert resumed.resume() and resumed.global_step == step
    resumed.fit()
    assert resumed.global_step == total
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), f"{k} differs after resume"
    assert [h["val_top1_err"] for h in ref.history] == [h["val_top1_err"]
                                                        for h in resumed.history]


def test_metrics_kept_epochs_and_results(tiny_home, tmp_path):
    cfg = get_config("smoke", **{**OVERRIDES, "checkpoint_every": 0})
    t = train(cfg, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "train_top1_err", "val_top1_err", "val_top5_err", "lr",
            "images_per_s"} <= set(rows[0])
    assert (tmp_path / "run" / "epoch_1.pt").exists() and (tmp_path / "run" / "epoch_2.pt").exists()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["epochs"] == 2
    assert results["steps"] == t.global_step == 2 * (len(t.train_set) // 8)
    # the errors in results.json, by brute force: ten 56-pixel crops of each validation
    # image (corners, centre, mirrors), softmax averaged; train error on centre crops
    model = t.model.eval()

    def inputs(images):
        return (images.permute(0, 3, 1, 2).float() - t.mean) * cfg.input_scale

    x, labels = inputs(t.val_set.images), t.val_set.labels
    probs = torch.zeros(len(x), N_CLASSES)
    with torch.no_grad():
        for top, left in [(0, 0), (0, 8), (8, 0), (8, 8), (4, 4)]:
            for flip in (False, True):
                c = x[:, :, top:top + 56, left:left + 56]
                probs += torch.softmax(model(c.flip(-1) if flip else c), 1) / 10
        centre = inputs(t.train_set.images)[:, :, 4:60, 4:60]
        train_pred = model(centre).argmax(1)
    top5 = probs.topk(5, 1).indices
    assert results["val_top1_err_10crop"] == pytest.approx(
        float((probs.argmax(1) != labels).double().mean()), abs=1e-6)
    assert results["val_top5_err_10crop"] == pytest.approx(
        float(1 - (top5 == labels[:, None]).any(1).double().mean()), abs=1e-6)
    nll = -probs[torch.arange(len(labels)), labels].log().mean()
    assert results["val_loss_10crop"] == pytest.approx(float(nll), rel=1e-5)
    assert results["train_top1_err"] == pytest.approx(
        float((train_pred != t.train_set.labels).double().mean()), abs=1e-6)


def test_wrong_checkpoint_is_refused(tiny_home, tmp_path):
    cfg = get_config("smoke", **{**OVERRIDES, "epochs": 1, "keep_epochs": (1,),
                                 "checkpoint_every": 0})
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="num_classes: checkpoint 10, model 20"):
        load_state(tmp_path / "run" / "last.pt",
                   build_model("zfnet", size=64, num_classes=20, **SMALL))
    with pytest.raises(ValueError, match="arch: checkpoint 'zfnet', model 'alexnet'"):
        load_state(tmp_path / "run" / "last.pt",
                   build_model("alexnet", size=64, num_classes=N_CLASSES, **SMALL))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_state(tmp_path / "nothing.pt", build_model("zfnet", size=64))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a zflib checkpoint"):
        load_state(tmp_path / "other.pt", build_model("zfnet", size=64))


def test_resume_refuses_other_settings_and_allows_a_longer_run(tiny_home, tmp_path):
    cfg = get_config("smoke", **{**OVERRIDES, "max_steps": 2, "checkpoint_every": 0})
    t = Trainer(cfg, tmp_path / "run", progress=False)
    for step in range(2):  # two steps and a checkpoint, as a run stopped by its deadline
        t.train_step(*t.batch(0, step))
        t.step_in_epoch, t.global_step = step + 1, step + 1
    t.save()
    other = get_config("smoke", **{**OVERRIDES, "lr": 1e-3, "optimizer": "sgd"})
    with pytest.raises(ValueError, match=r"other settings \(optimizer: checkpoint 'adam', now "
                                         r"'sgd'; lr: checkpoint 0.0002, now 0.001\)"):
        Trainer(other, tmp_path / "run", progress=False).resume()
    longer = Trainer(get_config("smoke", **{**OVERRIDES, "max_steps": 4, "num_threads": 2}),
                     tmp_path / "run", progress=False)
    assert longer.resume() and longer.global_step == 2


def test_plateau_rule_divides_lr_by_ten_down_to_min_lr(tiny_home, tmp_path, monkeypatch):
    """Sec. 3: lr / 10 once the validation error has not improved by plateau_threshold for
    plateau_patience epochs; never below min_lr."""
    cfg = get_config("smoke", **{**OVERRIDES, "lr": 1e-3, "min_lr": 5e-6, "checkpoint_every": 0,
                                 "keep_epochs": ()})
    t = Trainer(cfg, tmp_path / "run", progress=False)
    errors = iter([0.90, 0.897, 0.896, 0.80, 0.70, 0.70, 0.70, 0.70, 0.70, 0.70])
    monkeypatch.setattr(t, "validate", lambda **_: {"loss": 1.0, "top1_err": next(errors),
                                                    "top5_err": 0.5})
    lrs = [t.end_epoch()["lr"] for _ in range(10)]
    # the lr logged is the epoch's; improvements of < 0.005 do not count: the 2nd and 3rd
    # epochs are bad -> /10 after the 3rd; the 4th and 5th improve; 6, 7 bad -> /10; 8, 9 bad
    # -> 1e-6 would be below min_lr, so 5e-6
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5, 5e-6])
    assert t.lr == pytest.approx(5e-6)


def test_paper_recipe_and_renormalisation_in_training(tiny_home, tmp_path):
    cfg = get_config("paper", dataset="tiny-imagenet", image_size=64, crop_size=56, size=64,
                     num_classes=N_CLASSES, batch_size=8, epochs=1, max_steps=2,
                     checkpoint_every=0, keep_epochs=(), **SMALL)
    t = Trainer(cfg, tmp_path / "paper", progress=False)
    assert isinstance(t.opt, torch.optim.SGD)
    g = t.opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"]) == (1e-2, 0.9, 5e-4)
    with torch.no_grad():
        t.model.conv_layers()[0].weight.mul_(100)
    t.train_step(*t.batch(0, 0))
    # conv1's filters, all of RMS ~1 (N(0, 1e-2) times 100) before the step, are brought back
    # to the radius exactly: not left over it, and not shrunk below it
    rms = t.model.conv_layers()[0].weight.detach().pow(2).mean(dim=(1, 2, 3)).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, 0.1), rtol=1e-5, atol=0)


def test_batch_must_split_over_ranks_and_fit_the_data(tiny_home, tmp_path):
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(get_config("smoke", **{**OVERRIDES, "batch_size": 1024}), tmp_path,
                progress=False)


@pytest.mark.parametrize("setting, message", [
    (["--profile", "bogus"], "unknown profile 'bogus'"),
    (["--set", "epochs=-1"], "epochs -1 out of range 1.."),
    (["--set", "lr=0"], "lr 0.0 out of range: must be > 0"),
    (["--set", "arch=vgg"], "unknown model arch='vgg' size=64"),
    (["--set", "amp=fp16"], "amp 'fp16' not valid; valid: auto, bf16, fp32"),
    (["--set", "batch_size=0"], "batch_size 0 out of range 1.."),
    (["--set", "profile=paper"],
     "--set profile=paper: profile is not a config override; use --profile paper instead"),
    (["--set", "keep_epochs=[1,2]"], "keep_epochs 2 out of range 1..1 (the run's epochs; "),
    (["--minutes", "-5"], "--minutes -5.0 out of range"),
])
def test_cli_rejects_bad_settings_before_loading_data(zf_home, tmp_path, capsys, setting,
                                                      message):
    from zflib.training.train import main

    argv = ["--profile", "smoke", "--run-dir", str(tmp_path / "run"), *setting]
    with pytest.raises(SystemExit) as exit_:  # no dataset is installed: data never loaded
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_checkpoint_error_names_its_path(tmp_path, damage):
    from zflib.checkpoint import atomic_save

    model = build_model("zfnet", size=64, ablation="no3467", num_classes=3)
    path = tmp_path / "last.pt"
    atomic_save({"model": model.state_dict(), "arch": model.describe()}, path)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                      "garbage": b"not a checkpoint" * 10}[damage])
    with pytest.raises(ValueError, match=f"{path}.* truncated or corrupt"):
        load_state(path, model)


def test_a_fresh_run_does_not_repeat_old_metrics_rows(tiny_home, tmp_path):
    """A fresh start in a used folder: the old run's metrics rows and kept epochs move to
    ``replaced-*/`` (nothing deleted), none stays beside the new run's."""
    base = {**OVERRIDES, "train_per_class": 2, "checkpoint_every": 0}
    train(get_config("smoke", **{**base, "epochs": 2, "keep_epochs": (2,)}), tmp_path / "run",
          progress=False)
    old_epoch2 = (tmp_path / "run" / "epoch_2.pt").read_bytes()
    cfg = get_config("smoke", **{**base, "epochs": 1, "keep_epochs": ()})
    train(cfg, tmp_path / "run", progress=False, resume=False)  # start afresh, same folder
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["epoch"] for r in rows] == [1]
    assert not (tmp_path / "run" / "epoch_2.pt").exists()
    (aside,) = (tmp_path / "run").glob("replaced-*")
    assert (aside / "epoch_2.pt").read_bytes() == old_epoch2
    old_rows = [json.loads(line) for line in (aside / "metrics.jsonl").open()]
    assert [r["epoch"] for r in old_rows] == [1, 2]


def test_train_and_val_with_other_classes_are_refused(tmp_path):
    from zflib.data import ImageSet

    def images(classes):
        return ImageSet(torch.zeros(8, 64, 64, 3, dtype=torch.uint8),
                        torch.arange(8) % 2, classes, classes, [f"{i}.png" for i in range(8)])

    cfg = get_config("smoke", num_classes=2, batch_size=4, **SMALL)
    with pytest.raises(ValueError, match="other classes .* differing: dog, zebra"):
        Trainer(cfg, tmp_path, train=images(["cat", "dog"]), val=images(["cat", "zebra"]),
                progress=False)


def test_resume_refuses_a_checkpoint_trained_on_other_images(tmp_path):
    from zflib.data import ImageSet

    def images(fill):
        x = torch.full((8, 64, 64, 3), fill, dtype=torch.uint8)
        return ImageSet(x, torch.arange(8) % 2, ["a", "b"], ["a", "b"], [str(i) for i in range(8)])

    cfg = get_config("smoke", num_classes=2, batch_size=4, epochs=1, checkpoint_every=0,
                     **SMALL)
    t = Trainer(cfg, tmp_path, train=images(10), val=images(10), progress=False)
    t.save()
    same = Trainer(cfg, tmp_path, train=images(10), val=images(10), progress=False)
    assert same.resume()
    other = Trainer(cfg, tmp_path, train=images(11), val=images(10), progress=False)
    with pytest.raises(ValueError, match="trained on other images"):
        other.resume()


def _two_class_images(n=8):
    from zflib.data import ImageSet

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 64, 64, 3), dtype=torch.uint8, generator=g)
    return ImageSet(x, torch.arange(n) % 2, ["a", "b"], ["a", "b"], [str(i) for i in range(n)])


class _Killed(Exception):
    pass


def test_kill_after_the_last_step_before_the_epoch_end_resumes(tmp_path):
    """A checkpoint at the last step of the last epoch, killed before the epoch-end save:
    the resumed run still validates that epoch, writes its row and its kept checkpoint."""
    data = _two_class_images()
    cfg = get_config("smoke", num_classes=2, batch_size=4, epochs=1, checkpoint_every=2,
                     keep_epochs=(1,), num_threads=1, **SMALL)
    ref = train(cfg, tmp_path / "ref", progress=False, train_set=data, val_set=data)
    t = Trainer(cfg, tmp_path / "run", progress=False, train=data, val=data)

    def killed():
        raise _Killed

    t.end_epoch = killed
    with pytest.raises(_Killed):
        t.fit()
    resumed = Trainer(cfg, tmp_path / "run", progress=False, train=data, val=data)
    assert resumed.resume() and resumed.step_in_epoch == 2
    resumed.fit()
    assert resumed.epoch == 1 and len(resumed.history) == 1
    assert (tmp_path / "run" / "epoch_1.pt").exists()
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), f"{k} differs after resume"


def test_kill_between_epoch_end_saves_keeps_the_epoch_checkpoint(tmp_path, monkeypatch):
    """A kill right after ``last.pt`` is written at an epoch end must not lose that epoch's
    kept checkpoint (Fig. 4): it is written before ``last.pt``."""
    data = _two_class_images()
    cfg = get_config("smoke", num_classes=2, batch_size=4, epochs=2, checkpoint_every=0,
                     keep_epochs=(1, 2), num_threads=1, **SMALL)
    t = Trainer(cfg, tmp_path / "run", progress=False, train=data, val=data)
    save = Trainer.save

    def save_then_die(self, name="last.pt"):
        save(self, name)
        if name == "last.pt" and self.epoch == 1:
            raise _Killed

    monkeypatch.setattr(Trainer, "save", save_then_die)
    with pytest.raises(_Killed):
        t.fit()
    monkeypatch.setattr(Trainer, "save", save)
    resumed = Trainer(cfg, tmp_path / "run", progress=False, train=data, val=data)
    resumed.resume()
    resumed.fit()
    assert (tmp_path / "run" / "epoch_1.pt").exists()
    assert (tmp_path / "run" / "epoch_2.pt").exists()
