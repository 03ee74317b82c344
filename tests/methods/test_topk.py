"""Top-k mining against brute force (all activations held, sorted in numpy), for one pass,
odd batch sizes, shards merged in any order, and a two-process torch.distributed run.
Paper: Sec. 4, Fig. 2."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from zflib.methods import deconv, topk
from zflib.methods.activations import extract
from zflib.methods.receptive import crop_patches, receptive_field
from zflib.training.models import build_model

torch.set_num_threads(1)
LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def _model():
    torch.manual_seed(0)
    return build_model("zfnet", num_classes=10, size=64, init="kaiming").eval()


def _data(n=30):
    """n random images with 3 blank ones among them: a blank image gives exactly 0 in every
    map (zero biases), so ties are exact and must go to the smaller image index."""
    torch.manual_seed(1)
    x = torch.randn(n, 3, 56, 56)
    return torch.cat([x[: n // 3], torch.zeros(3, 3, 56, 56), x[n // 3:]])


def brute_force(acts: torch.Tensor, k: int):
    """acts [N, C, H, W] -> (values, images, ys, xs) [C, k] via numpy, one per image."""
    a = acts.numpy()
    n, c, h, w = a.shape
    flat = a.reshape(n, c, h * w)
    best = flat.argmax(2)  # first maximum in raster order
    val = flat.max(2)
    out = np.zeros((4, c, k))
    for m in range(c):
        order = sorted(range(n), key=lambda i: (-val[i, m], i))[:k]
        for j, i in enumerate(order):
            out[:, m, j] = (val[i, m], i, best[i, m] // w, best[i, m] % w)
    return out


def _check(result: dict, ref: dict):
    for name, (v, i, y, x) in ref.items():
        t = result[name]
        # values may differ in the last bits between batch sizes (conv summation order)
        assert np.allclose(t.values.numpy(), v, rtol=1e-5, atol=1e-6), name
        assert np.array_equal(t.images.numpy(), i) and np.array_equal(t.ys.numpy(), y)
        assert np.array_equal(t.xs.numpy(), x), name


@pytest.fixture(scope="module")
def mined():
    model, x = _model(), _data()
    acts = extract(model, x, LAYERS)
    ref = {n: brute_force(acts[n], 9) for n in LAYERS}
    return model, x, ref


def test_one_pass_and_odd_batches_equal_brute_force(mined):
    model, x, ref = mined
    _check(topk.mine_topk(model, x, k=9, batch_size=7), ref)
    # an iterable of (images, labels) batches, as a DataLoader yields
    loader = [(x[i:i + 11], torch.zeros(len(x[i:i + 11]))) for i in range(0, len(x), 11)]
    _check(topk.mine_topk(model, loader, layers=[1, 2, 3, 4, 5], k=9), ref)


def test_shards_merge_to_one_pass(mined):
    model, x, ref = mined
    parts = [topk.mine_topk(model, x, k=9, batch_size=5, shard=(r, 3)) for r in range(3)]
    _check(topk.merge(topk.merge(parts[2], parts[0]), parts[1]), ref)
    # chunks mined separately: images renumbered by offset, then merged
    a = topk.mine_topk(model, x[:13], k=9)
    b = topk.mine_topk(model, x[13:], k=9)
    b = {n: topk.TopK(t.values, t.images + 13, t.ys, t.xs) for n, t in b.items()}
    _check(topk.merge(b, a), ref)


def test_ties_at_zero_go_to_the_smaller_image():
    model, x = _model(), _data(4)  # 4 random images, 3 blank: every map ties at 0
    ref = {n: brute_force(a, 6) for n, a in extract(model, x, LAYERS).items()}
    res = topk.mine_topk(model, x, k=6, batch_size=2)
    _check(res, ref)
    assert (res["conv5"].values == 0).any()


def test_fewer_images_than_k_and_state_size():
    model, x = _model(), _data(3)[:3]
    res = topk.mine_topk(model, iter([x[:1], x[1:], x[:0]]), layers=["conv5"], k=5)
    t = res["conv5"]
    assert t.values.shape == (256, 5)
    assert torch.isinf(t.values[:, 3:]).all() and (t.images[:, 3:] == -1).all()
    assert sorted(t.images[0, :3].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="shard rank 3 out of range 0..2"):
        topk.mine_topk(model, x, shard=(3, 3))
    with pytest.raises(ValueError, match="k 0 out of range 1.."):
        topk.mine_topk(model, x, k=0)
    with pytest.raises(ValueError, match="batch_size 0 out of range 1.."):
        topk.mine_topk(model, x, batch_size=0)
    with pytest.raises(ValueError, match="image_batch 0 out of range 1.."):
        topk.top_projections(model, x, x, res, "conv5", [0], image_batch=0)


def _ddp_worker(rank: int, world: int, path: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    try:
        res = topk.mine_topk(_model(), _data(), layers=["conv2", "conv5"], k=9, batch_size=6)
        if rank == 0:
            torch.save({n: vars(t) for n, t in res.items()}, out)
    finally:
        dist.destroy_process_group()


def test_distributed_ranks_gather_to_one_pass(mined):
    _, _, ref = mined
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "res.pt")
        mp.spawn(_ddp_worker, args=(2, os.path.join(d, "store"), out), nprocs=2)
        res = {n: topk.TopK(**v) for n, v in torch.load(out).items()}
    _check(res, {n: ref[n] for n in ("conv2", "conv5")})


def test_top_projections_and_choose_maps(mined):
    model, x, ref = mined
    maps = topk.choose_maps(model, LAYERS, 3, seed=4)
    assert all(len(v) == 3 and v.tolist() == sorted(v.tolist())
                             for v in maps.values())
    assert all(torch.equal(maps[n], topk.choose_maps(model, LAYERS, 3, seed=4)[n])
               for n in LAYERS)
    assert len(topk.choose_maps(model, ["conv1"], 500)["conv1"]) == 96
    top = topk.mine_topk(model, x, layers=["conv3"], k=2)
    display = torch.rand(len(x), 3, 56, 56)
    tp = topk.top_projections(model, x, display, top, "conv3", maps["conv3"])
    rf = receptive_field(model, "conv3")
    assert tp.projections.shape == (3, 2, 3, rf.size, rf.size)
    assert tp.patches.shape == (3, 2, 3, rf.size, rf.size)
    # every (map, rank): the activation as mined (not as top_projections reports it) projected
    # alone from its own image by deconv.project, and the display patch around it
    mined_top = top["conv3"]
    _check(top, {"conv3": ref["conv3"][:, :, :2]})  # the top 2 of brute force
    assert torch.equal(tp.maps, maps["conv3"])
    for f in ("values", "images", "ys", "xs"):
        assert torch.equal(getattr(tp.top, f), getattr(mined_top, f)[maps["conv3"]]), f
    for m, mp_ in enumerate(maps["conv3"].tolist()):
        for j in range(2):
            img = int(mined_top.images[mp_, j])
            pos = torch.stack([mined_top.ys[mp_, j:j + 1], mined_top.xs[mp_, j:j + 1]], 1)
            full = deconv.project(model, x[img:img + 1], "conv3", maps=[mp_], positions=pos)
            assert full.abs().sum() > 0, (m, j)  # a real projection, not two zeros agreeing
            want = crop_patches(full, rf, pos[:, 0], pos[:, 1])[0]
            assert torch.allclose(tp.projections[m, j], want, rtol=1e-5, atol=1e-7), (m, j)
            patch = crop_patches(display[img:img + 1], rf, pos[:, 0], pos[:, 1], fill=1.0)[0]
            assert torch.equal(tp.patches[m, j], patch), (m, j)


def test_one_layer_given_alone(mined):
    """``layers="conv2"`` means that layer (not the layers "c", "o", ...), as in forward_trace;
    so do a number and a numpy integer."""
    model, x, ref = mined
    for one in ("conv2", 2, np.int64(2)):
        got = topk.mine_topk(model, x[:12], layers=one, k=3)
        assert list(got) == ["conv2"]
        want = topk.mine_topk(model, x[:12], layers=["conv2"], k=3)["conv2"]
        assert torch.equal(got["conv2"].images, want.images)
        assert torch.equal(topk.choose_maps(model, one, 4, seed=1)["conv2"],
                           topk.choose_maps(model, ["conv2"], 4, seed=1)["conv2"])


def test_device_other_than_the_models_is_refused(mined):
    """Batches go to the model's device; naming another is a clear error, not torch's
    device-mismatch failure mid-pass."""
    model, x, _ = mined
    with pytest.raises(ValueError, match=r"device cuda.* not the model's \(cpu\)"):
        topk.mine_topk(model, x[:4], layers="conv1", device="cuda")
    got = topk.mine_topk(model, x[:4], layers="conv1", k=2, device="cpu")
    want = topk.mine_topk(model, x[:4], layers="conv1", k=2)
    assert torch.equal(got["conv1"].values, want["conv1"].values)


def test_mine_topk_refuses_single_images_and_integer_pixels():
    """A Dataset (or a list, or one image) yields [3, S, S]: conv2d takes it as unbatched and
    the maps came out as the image's rows; uint8 pixels reached conv1 unconverted; float64
    inputs to a float32 model are cast."""
    model, x = _model(), torch.randn(2, 3, 56, 56)
    data = torch.utils.data.TensorDataset(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"batch 0 has shape \(3, 56, 56\); want \[B, 3, S, S\]"):
        topk.mine_topk(model, data, layers=["conv1"], k=1)
    with pytest.raises(ValueError, match=r"batch 0 has shape \(3, 56, 56\)"):
        topk.mine_topk(model, list(x), layers=["conv1"], k=1)
    with pytest.raises(ValueError, match=r"batch 0 has shape \(2, 56, 56, 3\); want \[B, 3"):
        topk.mine_topk(model, x.permute(0, 2, 3, 1), layers=["conv1"], k=1)
    with pytest.raises(ValueError, match="batch 0 holds torch.uint8 values; want floating"):
        topk.mine_topk(model, x.to(torch.uint8), layers=["conv1"], k=1)
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    assert topk.mine_topk(model, loader, layers=["conv1"], k=1)["conv1"].values.shape == (96, 1)
    same = topk.mine_topk(model, x.double(), layers=["conv1"], k=1)["conv1"]
    torch.testing.assert_close(same.values, topk.mine_topk(model, x, layers=["conv1"],
                                                           k=1)["conv1"].values, rtol=0, atol=0)


def test_top_projections_refuses_display_images_channels_last():
    """from_input gives [N, S, S, 3]; unpermuted, the patches came out with S channels."""
    model, x = _model(), torch.randn(3, 3, 56, 56)
    top = topk.mine_topk(model, x, layers=["conv5"], k=2)
    with pytest.raises(ValueError,
                       match=r"display of shape \(3, 56, 56, 3\); want \[3, C, 56, 56\]"):
        topk.top_projections(model, x, torch.rand(3, 56, 56, 3), top, "conv5", [0])
    tp = topk.top_projections(model, x, torch.rand(3, 1, 56, 56), top, "conv5", [0])
    assert tp.patches.shape[2] == 1  # any channel count (grey display images)


@pytest.mark.parametrize("k", [2.5, True, "9"])
def test_k_must_be_a_whole_number(k):
    with pytest.raises(TypeError, match=f"k must be a whole number of activations per map, "
                                        f"got {k!r}"):
        topk.mine_topk(_model(), torch.randn(2, 3, 56, 56), layers=["conv1"], k=k)


def test_top_projections_of_a_layer_that_was_not_mined():
    model, x = _model(), torch.randn(2, 3, 56, 56)
    top = topk.mine_topk(model, x, layers=["conv1", "conv2"], k=1)
    with pytest.raises(ValueError, match="conv5 was not mined; mined: conv1, conv2"):
        topk.top_projections(model, x, x, top, "conv5", [0])


def test_images_of_another_size_are_refused():
    """The positions mined from 64-pixel images would be projected through a 56-pixel trace
    (forward_trace refuses those images) and cropped from the wrong place."""
    model = _model()
    with pytest.raises(ValueError, match=r"batch 0 has images of \(64, 64\) pixels; this "
                                         r"model takes 56x56"):
        topk.mine_topk(model, torch.randn(2, 3, 64, 64), layers=["conv1"], k=1)


@pytest.mark.parametrize("maps", [[0.7], [True], torch.tensor([1.5])])
def test_fractional_maps_are_refused_not_truncated(maps):
    """torch.long would read map 0.7 as map 0 without a word."""
    model, x = _model(), torch.randn(2, 3, 56, 56)
    top = topk.mine_topk(model, x, layers=["conv5"], k=1)
    with pytest.raises(ValueError, match="maps must be integer indices"):
        top["conv5"].select(maps)
    with pytest.raises(ValueError, match="maps must be integer indices"):
        topk.top_projections(model, x, x, top, "conv5", maps)


def test_cached_mining_equals_mining_and_never_reads_a_stale_entry(tmp_path, monkeypatch):
    model, x = _model(), torch.randn(5, 3, 56, 56)
    first, _, cached = topk.cached_mine_topk(model, x, cache_dir=tmp_path, k=2)
    assert not cached and len(list(tmp_path.glob("topk-*.pt"))) == 1
    fresh = topk.mine_topk(model, x, k=2)
    mined = []
    real = topk.mine_topk
    monkeypatch.setattr(topk, "mine_topk", lambda *a, **k: mined.append(1) or real(*a, **k))
    again, _, cached = topk.cached_mine_topk(model, x, cache_dir=tmp_path, k=2)
    assert cached and not mined
    from zflib.data.common import tensor_digest

    assert topk.cached_mine_topk(model, x, cache_dir=tmp_path, k=2,
                                 images=tensor_digest(x))[2]  # the digest names the same entry
    for got in (first, again):
        assert list(got) == list(fresh)
        for name in fresh:
            for f in ("values", "images", "ys", "xs"):
                assert torch.equal(getattr(got[name], f), getattr(fresh[name], f))
    other = _model()
    with torch.no_grad():
        other.features[0].weight.mul_(2)
    for kwargs in (dict(k=3), dict(k=2, layers=["conv1"]), dict(k=2, model=other),
                   dict(k=2, x=x.flip(0))):
        m, z = kwargs.pop("model", model), kwargs.pop("x", x)
        assert not topk.cached_mine_topk(m, z, cache_dir=tmp_path, **kwargs)[2]
    assert len(mined) == 4 and len(list(tmp_path.glob("topk-*.pt"))) == 5
    path = next(p for p in tmp_path.glob("topk-*.pt") if topk.load_topk(p)[1]["k"] == 3)
    path.write_bytes(b"not a checkpoint")  # unreadable: mined again and rewritten
    top, _, cached = topk.cached_mine_topk(model, x, cache_dir=tmp_path, k=3)
    assert not cached and torch.equal(topk.load_topk(path)[0]["conv5"].values,
                                      top["conv5"].values)
    assert not topk.cached_mine_topk(model, x, cache_dir=None, k=2)[2]
    assert not list(tmp_path.glob("*.tmp*"))


def test_strongest_over_epochs_reads_its_cache(tmp_path):
    model, x = _model(), torch.randn(4, 3, 56, 56)
    maps = {"conv2": torch.tensor([0, 5])}
    plain = topk.strongest_over_epochs(lambda e: model, [1], x, x, maps)
    for _ in range(2):  # mined, then read back
        got = topk.strongest_over_epochs(lambda e: model, [1], x, x, maps, cache_dir=tmp_path)
        torch.testing.assert_close(got[1]["conv2"].projections, plain[1]["conv2"].projections,
                                   rtol=0, atol=0)
    assert len(list(tmp_path.glob("topk-*.pt"))) == 1


def test_cached_mining_of_batches_needs_the_images_named(tmp_path):
    model, x = _model(), torch.randn(3, 3, 56, 56)
    with pytest.raises(ValueError, match="give images="):
        topk.cached_mine_topk(model, iter([x]), cache_dir=tmp_path, k=1)
    got = topk.cached_mine_topk(model, iter([x[:2], x[2:]]), cache_dir=tmp_path, k=1,
                                images="three")[0]
    want = topk.mine_topk(model, x, k=1)["conv3"]  # batched otherwise: float rounding
    assert torch.equal(got["conv3"].images, want.images)
    torch.testing.assert_close(got["conv3"].values, want.values)


def test_map_scores_and_class_concentration_against_counting():
    import collections

    model, x = _model(), _data(30)
    top = topk.mine_topk(model, x, layers=["conv2", "conv5"], k=5)
    labels = torch.arange(len(x)) % 4
    for t in top.values():
        modal, count = topk.class_concentration(t, labels)
        for m in range(len(t.values)):
            seen = collections.Counter(int(labels[i]) for i in t.images[m].tolist() if i >= 0)
            best = max(seen.values())
            assert int(count[m]) == best and seen[int(modal[m])] == best
        maps = [3, 0, 17]
        rows = topk.map_scores(t, maps, labels)
        strength = t.values[:, 0].tolist()
        for r, m in zip(rows, maps, strict=True):
            assert r["map"] == m and r["maps_in_layer"] == len(strength)
            assert r["top1"] == pytest.approx(strength[m])
            assert r["topk_mean"] == pytest.approx(float(t.values[m].mean()))
            # rank by brute force: maps stronger, or as strong and numbered before it
            assert r["rank"] == 1 + sum(s > strength[m] or (s == strength[m] and j < m)
                                        for j, s in enumerate(strength))
            assert r["modal_count"] == int(count[m])
    assert "modal_count" not in topk.map_scores(top["conv2"], [1])[0]
    empty = topk.mine_topk(model, x[:2], layers=["conv1"], k=4)["conv1"]  # 2 of 4 slots empty
    assert int(topk.class_concentration(empty, labels[:2])[1].max()) <= 2
    last = int(top["conv5"].images.max())
    with pytest.raises(ValueError, match=f"top-k image {last} out of range 0..9 of labels"):
        topk.class_concentration(top["conv5"], labels[:10])


def test_chance_concentration_against_enumeration():
    import collections
    import itertools

    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    for k in (1, 3, 5):
        subsets = list(itertools.combinations(labels.tolist(), k))  # every draw, equally likely
        exact = sum(max(collections.Counter(s).values()) for s in subsets) / len(subsets)
        assert topk.chance_concentration(labels, k, draws=40000) == pytest.approx(exact, abs=0.02)
    assert topk.chance_concentration(labels, 8, draws=3) == 3  # every image: the largest class
    with pytest.raises(ValueError, match="k=9 out of range 1..8"):
        topk.chance_concentration(labels, 9)


def test_mining_and_projection_show_their_progress_and_only_when_asked(monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE")  # the suite turns bars off (conftest)
    model, x = _model(), _data(12)
    quiet = topk.mine_topk(model, x, layers=["conv1", "conv2"], k=2, batch_size=5,
                           progress=False)
    assert capsys.readouterr().err == ""
    shown = topk.mine_topk(model, x, layers=["conv1", "conv2"], k=2, batch_size=5)
    err = capsys.readouterr().err
    assert "mining conv1-conv2" in err and "3/3" in err  # 15 images (_data) in batches of 5
    assert all(torch.equal(quiet[n].values, shown[n].values) for n in quiet)
    topk.top_projections(model, x, x, shown, "conv2", [0, 1])  # x for display: [N, 3, S, S]
    assert "projecting conv2" in capsys.readouterr().err
