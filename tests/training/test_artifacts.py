"""zflib.training.artifacts: the committed weights load into the right architectures; a snapshot of
another architecture is refused; export and load round-trip."""

import pytest
import torch

from zflib.config import get_config
from zflib.training.artifacts import (
    available_epochs,
    figure_epochs,
    final_epoch,
    load_trained,
    profile_config,
    save_trained,
)
from zflib.training.models import build_model


def test_committed_main_model_is_whole_and_matches_its_config():
    t = load_trained("zfnet64")
    assert t.complete and t.model.describe() == {"arch": "zfnet", "size": 64,
                                                 "ablation": "none", "num_classes": 200}
    assert t.mean.shape == (3, 64, 64) and 60 < float(t.mean.mean()) < 180
    assert t.cfg.profile == "full" and t.cfg.crop_size == 56
    assert 1 in available_epochs("zfnet64")


def test_epoch_snapshots_replace_conv_layers_only():
    last = load_trained("zfnet64").model
    first = load_trained("zfnet64", epoch=available_epochs("zfnet64")[0]).model
    assert not torch.equal(last.features[0].weight, first.features[0].weight)
    assert torch.equal(last.classifier[-1].weight, first.classifier[-1].weight)
    with pytest.raises(ValueError, match="epoch 999 of 'zfnet64' not stored"):
        load_trained("zfnet64", epoch=999)


def test_conv_only_models():
    a = load_trained("alexnet64")
    assert not a.complete and a.model.arch == "alexnet"
    assert a.model.conv_layers()[0].kernel_size == (11, 11)
    # the untrained classifier is drawn from the run's seed: equal on every load, and the caller's
    # random state is untouched
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    b = load_trained("alexnet64")
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())


def test_roundtrip_and_refusal(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    cfg = get_config("smoke", num_classes=10)
    torch.manual_seed(0)
    m = build_model("zfnet", size=64, num_classes=10)
    save_trained(m, torch.zeros(3, 64, 64), cfg, "mine")
    back = load_trained("mine")
    assert torch.allclose(back.model.features[0].weight, m.features[0].weight, atol=1e-3)
    other = build_model("alexnet", size=64, num_classes=10)
    save_trained(other, torch.zeros(3, 64, 64), cfg, "mine", epoch=3)
    with pytest.raises(ValueError, match="arch: checkpoint 'alexnet', model 'zfnet'"):
        load_trained("mine", epoch=3)
    (tmp_path / "runs").mkdir()  # results of runs, not a model: not offered
    with pytest.raises(FileNotFoundError, match=r"no artifact 'nothing' .*\(have: mine\)"):
        load_trained("nothing")
    for e in (10, 2):
        save_trained(m, torch.zeros(3, 64, 64), cfg, "mine", epoch=e)
    (tmp_path / "mine" / "epoch_last.pt").write_bytes(b"")
    assert available_epochs("mine") == [2, 3, 10]  # by number, not by name


def test_profile_config_keeps_the_models_preprocessing():
    paper = load_trained("zfnet64-paper-sgd")  # the paper's recipe: inputs at scale 1
    assert paper.cfg.input_scale == 1.0 != get_config("quick").input_scale
    cfg = profile_config(paper, "quick", val_limit=0)
    assert (cfg.profile, cfg.val_limit, cfg.input_scale, cfg.crop_size) == ("quick", 0, 1.0, 56)
    assert profile_config(load_trained("zfnet64"), "smoke").input_scale == 1 / 64
    with pytest.raises(ValueError, match="'input_scale': 0.5} differs from the model's own"):
        profile_config(paper, "quick", input_scale=0.5)


def test_zflib_runs_reproduces_every_committed_run_config():
    """Each committed run's recorded config is what ``zflib.paper.runs`` would train today; a key
    absent from an older record must have the value it had when absent (``first_layer_std``
    came later: absent meant 0; ``correspondence_draws`` and ``explorer_images``, analysis
    settings that training never reads, came later still; ``schedule``, ``warmup_epochs`` and
    ``label_smoothing`` came with the 224-pixel runs: absent meant the paper's plateau rule;
    ``dog_parts``, ``fig5_source`` and ``fig7_source``, where the figures take their images, and
    ``sanity_images`` and ``sanity_seeds`` (notebook 12) came after every committed run)."""
    import dataclasses
    import json

    from zflib.config import get_config
    from zflib.paper.runs import RUNS
    from zflib.training.artifacts import artifacts_dir

    legacy = {"first_layer_std": 0.0, "correspondence_draws": 100, "explorer_images": 10000,
              "schedule": "plateau", "warmup_epochs": 0.0, "label_smoothing": 0.0,
              "fig4_per_class": 0, "fig6_images": 0, "fig7_images": 0}
    # the figures' image sources (issue 34) came after every committed run: absent means the
    # profile's own, whatever it is (analysis settings that training never reads)
    later = ("dog_parts", "fig5_source", "fig7_source", "sanity_images", "sanity_seeds")
    checked = 0
    for name, run in RUNS.items():
        for path in (artifacts_dir() / name / "results.json",
                     artifacts_dir() / "runs" / name / "results.json"):
            record = json.loads(path.read_text()) if path.exists() else {}
            saved = record.get("config")
            if not saved:
                continue
            now = dataclasses.asdict(get_config(saved["profile"], **run.overrides))
            if saved.get("train_per_class") == 0 and record.get("train_images"):
                # "all available" on the mirror's copy: its 300 per class, now said outright
                saved = {**saved, "train_per_class": record["train_images"] // now["num_classes"]}
            for key, value in now.items():
                value = list(value) if isinstance(value, tuple) else value
                if key in later and key not in saved:
                    continue
                assert saved.get(key, legacy.get(key)) == value, (name, key)
            checked += 1
    assert checked == len(RUNS)


def test_committed_caltech_baseline_matches_what_notebook_10_asks_for():
    """Notebook 10 reads the committed from-scratch baseline (80 CPU minutes to retrain) only
    when its key matches: a Config field that a scratch run does not read (an analysis
    setting, say) must not change the key."""
    from zflib.data.caltech import load_caltech101
    from zflib.methods import transfer
    from zflib.paper import scratch

    trained = load_trained("zfnet64")
    s = transfer.transfer_settings("full")
    try:
        data = load_caltech101(size=trained.cfg.image_size, background=s.background,
                               per_class_limit=s.per_class_limit)
    except FileNotFoundError as err:  # no copy of Caltech-101 and no mirror
        pytest.skip(str(err))
    saved = scratch.load_baseline(scratch.artifact_path("full"))
    assert saved["key"] == scratch.baseline_key(data, scratch.scratch_config(trained.cfg, s), s)


def test_renormalisation_never_binds_under_the_64_pixel_recipe():
    """What runs.py and notebook 06 say: under AdamW no conv1 filter nears the radius, so the
    run without renormalisation ends where ZFNet-64 does."""
    from zflib.paper.runs import results_of

    off, on = results_of("zfnet64-norenorm"), results_of("zfnet64")
    assert off["config"]["renorm"] is False and on["config"]["renorm"] is True
    for key in ("val_top1_err_10crop", "val_top5_err_10crop", "train_top1_err"):
        assert off[key] == on[key], key


def test_a_wrong_artifact_file_is_refused_by_path(tmp_path, monkeypatch):
    """Truncated, empty, foreign (a torchvision state_dict), another class count in the weights
    than in the record, a record contradicting its config: each a ValueError naming the file
    and the fault, never torch's own error."""
    import torchvision

    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    cfg = get_config("smoke", num_classes=10)
    torch.manual_seed(0)
    m = build_model("zfnet", size=64, num_classes=10)

    def saved(name: str, **kw):
        return save_trained(m, torch.zeros(3, 64, 64), cfg, name, **kw)

    def edit(path, change):
        ckpt = torch.load(path, weights_only=True)
        change(ckpt)
        torch.save(ckpt, path)

    path = saved("half")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    path = saved("empty")
    path.write_bytes(b"")
    torch.save(torchvision.models.alexnet().state_dict(), saved("foreign"))
    edit(saved("classes"), lambda c: (c["arch"].update(num_classes=200),
                                      c["config"].update(num_classes=200)))
    edit(saved("record"), lambda c: c["config"].update(arch="alexnet"))
    edit(saved("mean"), lambda c: c.update(mean=torch.zeros(3, 224, 224)))
    saved("snap")
    saved("snap", epoch=2).write_bytes(b"\x00" * 100)
    cases = {"half": "is unreadable: truncated", "empty": "is unreadable: truncated",
             "foreign": "is not a zflib artifact",
             "classes": r"classifier.6.weight \(10, 4096\), zfnet wants \(200, 4096\)",
             "record": "contradicts itself .arch: arch 'zfnet', config 'alexnet'",
             "mean": r"mean image \(3, 224, 224\), config \(3, 64, 64\)",
             "snap": "epoch_2.pt is unreadable"}
    for name, match in cases.items():
        with pytest.raises(ValueError, match=match) as err:
            load_trained(name, epoch=2 if name == "snap" else None)
        assert str(tmp_path / name) in str(err.value), name


def test_figure_epochs_end_at_the_final_model(tmp_path, monkeypatch):
    """ZFNet-224 stores epochs 1, 2, 5, 10 and its final epoch 14 as the model itself."""
    assert available_epochs("zfnet224") == [1, 2, 5, 10]
    assert figure_epochs("zfnet224") == [1, 2, 5, 10, 14] and final_epoch("zfnet224") == 14
    assert figure_epochs("zfnet64-paper-sgd") == [1, 2, 5, 10, 20]  # 20 stored as well
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    cfg = get_config("smoke", num_classes=10)
    torch.manual_seed(0)
    m = build_model("zfnet", size=64, num_classes=10)
    save_trained(m, torch.zeros(3, 64, 64), cfg, "mine")
    assert final_epoch("mine") is None and figure_epochs("mine") == []
    (tmp_path / "mine" / "results.json").write_text('{"epochs": 3}')
    with torch.no_grad():
        m.features[0].weight.mul_(-1)
    save_trained(m, torch.zeros(3, 64, 64), cfg, "mine", epoch=1)
    assert figure_epochs("mine") == [1, 3]
    final, first = load_trained("mine", epoch=3).model, load_trained("mine", epoch=1).model
    assert torch.equal(final.features[0].weight, load_trained("mine").model.features[0].weight)
    assert torch.allclose(first.features[0].weight, -final.features[0].weight)
    with pytest.raises(ValueError, match=r"epoch 2 of 'mine' not stored; valid: \[1, 3\]"):
        load_trained("mine", epoch=2)


def test_profile_config_takes_a_models_config():
    paper = load_trained("zfnet64-paper-sgd")
    assert profile_config(paper.cfg, "full224", val_limit=5) == \
        profile_config(paper, "full224", val_limit=5)
    assert profile_config(load_trained("zfnet224").cfg, "full224").image_size == 256
