"""zflib.training.resident: the device-side batch against a per-image crop and flip by brute
force, the counter-based draws against a plain-Python splitmix64, a step that never reads a
tensor back to the host, and a killed run that resumes to the weights of an uninterrupted one
(ZFNet-224 without layers 6-7, on the CPU, a few random 232-px images)."""

from __future__ import annotations

import inspect

import pytest
import torch

from zflib.config import get_config
from zflib.data import ImageSet
from zflib.training.models import BandLRN
from zflib.training.resident import (
    ResidentTrainer,
    batch_input,
    epoch_crops,
    epoch_order,
    hashed,
)

_MASK = (1 << 64) - 1


def _splitmix64(key: int, j: int) -> int:
    """The reference: splitmix64's j-th output for state ``key``, top 53 bits."""
    z = (key + (j + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) >> 11


@pytest.mark.parametrize("key", [0, 1, 123456789012345, (1 << 61) - 1, (1 << 64) - 5])
def test_hashed_is_splitmix64(key):
    assert hashed(key, 7, 40, device="cpu").tolist() == [_splitmix64(key, 7 + i)
                                                         for i in range(40)]


def test_batch_input_equals_a_crop_and_flip_per_image():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7, 20, 24, 3), dtype=torch.uint8, generator=g)
    mean = torch.rand(3, 20, 24, generator=g) * 255
    idx = torch.tensor([3, 0, 6, 3, 5])
    oy = torch.tensor([0, 4, 2, 1, 4])  # 0 and 4: the first and last rows a crop can start at
    ox = torch.tensor([8, 0, 3, 8, 5])  # 0 and 8: likewise for columns
    flip = torch.tensor([True, False, True, False, True])
    got = batch_input(images, mean.permute(1, 2, 0).contiguous(), idx, oy, ox, flip, 16, 0.5)
    assert got.shape == (5, 3, 16, 16) and got.is_contiguous(memory_format=torch.channels_last)
    for b in range(5):
        i, t, left = int(idx[b]), int(oy[b]), int(ox[b])
        want = torch.empty(3, 16, 16)
        for c in range(3):
            for r in range(16):
                for k in range(16):
                    col = left + (15 - k if flip[b] else k)
                    want[c, r, k] = (float(images[i, t + r, col, c]) - mean[c, t + r, col]) * 0.5
        assert torch.equal(got[b], want), b


def test_epoch_draws_are_a_permutation_and_crops_in_range():
    order = epoch_order(0, 3, 1000, device="cpu")
    assert torch.equal(order.sort().values, torch.arange(1000))
    assert not torch.equal(order, epoch_order(0, 4, 1000, device="cpu"))
    assert torch.equal(order, epoch_order(0, 3, 1000, device="cpu"))
    oy, ox, flip = epoch_crops(0, 3, 0, 50, 40, (256, 240), 224, device="cpu")
    assert oy.shape == ox.shape == flip.shape == (50, 40)
    assert oy.min() == 0 and oy.max() == 32 and ox.min() == 0 and ox.max() == 16
    assert 0.45 < flip.float().mean() < 0.55
    assert not torch.equal(oy, epoch_crops(0, 3, 1, 50, 40, (256, 240), 224, device="cpu")[0])


def test_draws_and_batches_create_nothing_on_the_host():
    """On the meta device every tensor must come from the device: one made on the CPU (an
    index built on the host, then copied) would be refused when mixed with the others, and
    reading a value (``.item()``) is impossible."""
    oy, ox, flip = epoch_crops(0, 0, 0, 3, 4, (32, 32), 24, device="meta")
    order = epoch_order(0, 0, 12, device="meta")
    x = batch_input(torch.empty(12, 32, 32, 3, dtype=torch.uint8, device="meta"),
                    torch.empty(32, 32, 3, device="meta"), order[:4], oy[1], ox[1], flip[1],
                    24, 1 / 64)
    assert x.device.type == "meta" and x.shape == (4, 3, 24, 24)


def _images(n: int, seed: int, size: int = 232, classes: int = 5) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    names = [str(i) for i in range(classes)]
    return ImageSet(torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g),
                    torch.arange(n) % classes, names, names, [""] * n)


# ZFNet-224 without fc6-fc7 (checkpoints of 16 MB), 232-px images, batches of 4
SMALL = dict(ablation="no67", num_classes=5, image_size=232, batch_size=4, eval_batch_size=8,
             epochs=2, keep_epochs=(2,), checkpoint_every=2, warmup_epochs=0.5)


def _trainer(run_dir, **overrides) -> ResidentTrainer:
    cfg = get_config("full224", **{**SMALL, **overrides})
    return ResidentTrainer(cfg, run_dir, device="cpu", train=_images(12, 0),
                           val=_images(4, 1), progress=False)


def test_a_step_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    """No ``.item()``, ``.cpu()``, ``.tolist()``, ``float(t)`` or ``bool(t)`` by zflib's own
    code between two steps (on a GPU each waits for the device; torch's CPU optimiser reads
    its step count, which is not ours)."""
    t = _trainer(tmp_path / "run")
    calls: list[str] = []

    def spy(name):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            caller = inspect.currentframe().f_back
            if caller and "zflib" in caller.f_code.co_filename.replace("\\", "/"):
                calls.append(f"{name} in {caller.f_code.co_filename}:{caller.f_lineno}")
            return real(self, *args, **kwargs)
        return wrapper

    for name in ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, spy(name))
    for step in range(2):
        x, y = t.batch(0, step)
        t.train_step(x, y)
        t.global_step += 1
    assert calls == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_synchronisation_between_steps_on_a_gpu(tmp_path):
    cfg = get_config("full224", **SMALL)
    t = ResidentTrainer(cfg, tmp_path / "run", device="cuda", train=_images(12, 0),
                        val=_images(4, 1), progress=False)
    for step in range(2):  # warm-up: cuDNN's first calls may synchronise
        t.train_step(*t.batch(0, step))
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(2):
            t.train_step(*t.batch(1, step))
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    ref = _trainer(tmp_path / "ref")
    ref.fit()
    assert ref.global_step == 6 and len(ref.history) == 2

    class Killed(Exception):
        pass

    killed = _trainer(tmp_path / "killed")
    real = killed.train_step

    def step_then_die(x, y):
        if killed.global_step == 5:  # after the checkpoint of step 4, mid-epoch 2
            raise Killed
        return real(x, y)

    monkeypatch.setattr(killed, "train_step", step_then_die)
    with pytest.raises(Killed):
        killed.fit()
    again = _trainer(tmp_path / "killed")
    assert again.resume() and again.global_step == 4 and again.epoch == 1
    again.fit()
    assert again.global_step == 6
    want, got = ref.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert [h["train_loss"] for h in again.history] == [h["train_loss"] for h in ref.history]


def test_band_lrn_is_in_place_and_the_checkpoint_unchanged(tmp_path):
    t = _trainer(tmp_path / "run")
    lrn = [m for m in t.model.modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    assert len(lrn) == 2 and all(type(m) is BandLRN for m in lrn)
    plain = ResidentTrainer(t.cfg, tmp_path / "plain", device="cpu", train=t.train_set,
                            val=t.val_set, progress=False, band_lrn=False)
    assert not any(type(m) is BandLRN for m in plain.model.modules())
    want, got = plain.model.state_dict(), t.model.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    x, _ = t.batch(0, 0)
    with torch.no_grad():
        assert torch.allclose(t.model.eval()(x), plain.model.eval()(x), rtol=1e-4, atol=1e-5)


def test_renormalisation_copies_nothing_from_the_host():
    """``renormalize_filters`` on a model on the meta device: no CPU tensor may be moved over
    (on a GPU each such copy waits for the device; the count once was, at every step)."""
    from torch.overrides import TorchFunctionMode

    from zflib.training.models import build_model, renormalize_filters

    moved = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in (torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.copy_) and any(
                    isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in args):
                moved.append(func.__name__)
            return func(*args, **kwargs)

    model = build_model("zfnet", num_classes=5, size=224).to("meta")
    with Spy():
        count = renormalize_filters(model)
    assert moved == [] and count.device.type == "meta"
