"""zflib.apps.mine: the mining command on one process and under torchrun (two CPU ranks, gloo) give
the same result, which is one pass of zflib.methods.topk over every image; its projections are
top_projections over every image, though only the top images are preprocessed."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from zflib.apps import mine
from zflib.methods import topk
from zflib.methods.activations import extract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _folder(path, n=30):
    rng = np.random.default_rng(4)
    path.mkdir()
    for i in range(n):
        h, w = int(rng.integers(48, 90)), int(rng.integers(48, 90))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path / f"{i:03d}.png")
    (path / "notes.txt").write_text("not an image")
    return path


def test_two_ranks_give_one_pass(tmp_path):
    photos = _folder(tmp_path / "photos")
    args = ["--model", "alexnet64", "--folder", str(photos), "--k", "4", "--batch-size", "4",
            "--maps", "2"]
    assert mine.main([*args, "--out", str(tmp_path / "one"), "--checkpoint-every", "100"]) == 0
    args += ["--checkpoint-every", "2"]  # four chunks of two batches, each checkpointed
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29519", "-m", "zflib.apps.mine", *args, "--out", str(tmp_path / "two")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    one, meta1 = topk.load_topk(tmp_path / "one" / "topk.pt")
    two, meta2 = topk.load_topk(tmp_path / "two" / "topk.pt")
    assert (meta1["ranks"], meta2["ranks"]) == (1, 2)
    assert meta1["images"] == meta2["images"] == [f"{i:03d}.png" for i in range(30)]
    assert list(one) == list(topk.LAYERS)
    for layer in one:
        for field in ("values", "images", "ys", "xs"):
            assert torch.equal(getattr(one[layer], field), getattr(two[layer], field)), layer
    assert not (tmp_path / "two" / "partial.pt").exists()  # removed once the result is out
    assert sorted(p.name for p in (tmp_path / "two").glob("*.png")) == [
        f"top9_conv{i}.png" for i in range(1, 6)]


def test_mine_and_project_equal_topk_over_every_image(tmp_path):
    sub = mine.subject("alexnet64")
    images, names = mine.images_of(sub, folder=_folder(tmp_path / "photos", 13))
    assert len(names) == 13
    top = mine.mine(sub, images, k=3, batch_size=5)
    x = sub.preprocess.inputs(images)
    ref = topk.mine_topk(sub.model, x, k=3)
    acts = extract(sub.model, x, list(ref))  # every full map, by forward hooks
    for layer in ref:
        t = top[layer]
        for field in ("values", "images", "ys", "xs"):
            assert torch.equal(getattr(t, field), getattr(ref[layer], field)), (layer, field)
        # positions against the full maps: the activation at the reported (image, y, x) is
        # the reported value, and it is that image's strongest in the map ...
        a = acts[layer]
        c = torch.arange(len(t.values))[:, None].expand_as(t.images)
        assert torch.allclose(a[t.images, c, t.ys, t.xs], t.values, rtol=1e-5, atol=1e-6)
        flat = a.flatten(2)[t.images, c]  # [C, k, H*W]: each reported image's map
        assert torch.allclose(flat.amax(2), t.values, rtol=1e-5, atol=1e-6), layer
        # ... at numpy's argmax (the first in raster order) wherever that is unambiguous: a
        # maximum clear of the runner-up, or a dead map (all 0: every spot ties, first is 0, 0)
        f = flat.numpy()
        best = f.argmax(2)
        top2 = np.sort(f, 2)[..., -2:]
        clear = (top2[..., 1] - top2[..., 0] > 1e-4 * np.abs(top2[..., 1])) | (top2[..., 1] == 0)
        assert clear.mean() > 0.5, layer  # the check below covers most slots
        w = a.shape[-1]
        assert np.array_equal(t.ys.numpy()[clear], (best // w)[clear]), layer
        assert np.array_equal(t.xs.numpy()[clear], (best % w)[clear]), layer
    maps = topk.choose_maps(sub.model, ["conv2", "conv5"], 3, seed=1)
    ours = mine.project(sub, images, top, maps)
    display = sub.preprocess.display(images)
    for layer, m in maps.items():
        r = topk.top_projections(sub.model, x, display, ref, layer, m)
        assert torch.equal(ours[layer].maps, m)
        assert torch.equal(ours[layer].top.images, r.top.images)
        assert torch.allclose(ours[layer].projections, r.projections, atol=1e-5)
        assert torch.allclose(ours[layer].patches, r.patches)
        assert ours[layer].projections.abs().sum() > 0


def test_bad_input_is_named(tmp_path):
    sub = mine.subject("alexnet64")
    with pytest.raises(ValueError, match="limit -1 out of range 0"):
        mine.images_of(sub, folder=tmp_path, limit=-1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        mine.images_of(sub, folder=tmp_path / "empty")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a top-k mining result"):
        topk.load_topk(tmp_path / "other.pt")


def test_paper_profile_at_224_from_an_image_folder_to_mined_projections(zf_home, tmp_path,
                                                                       monkeypatch):
    """The ``paper`` profile end to end on a tiny ImageFolder tree: ZFNet-224 trains (two
    steps), exports as an artifact, and zflib.apps.mine mines its validation split and draws it."""
    import json

    from zflib.config import get_config
    from zflib.training.artifacts import export_run
    from zflib.training.train import train

    rng = np.random.default_rng(2)
    for split, n in (("train", 4), ("val", 2)):
        for c in ("ant", "bee", "cat"):
            (tmp_path / "tree" / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)).save(
                    tmp_path / "tree" / split / c / f"{i}.jpg")
    cfg = get_config("paper", data_root=str(tmp_path / "tree"), num_classes=3, batch_size=4,
                     epochs=1, max_steps=2, checkpoint_every=0, keep_epochs=(),
                     eval_batch_size=8)
    t = train(cfg, tmp_path / "run", progress=False, device="cpu")
    assert t.train_set.images.shape[1:] == (256, 256, 3)  # shorter side 256, centre square
    with torch.no_grad():
        assert t.model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 6, 6)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (results["steps"], results["val_images"]) == (2, 6)
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    export_run(tmp_path / "run", "zfnet224", whole=True)
    out = tmp_path / "mined"
    assert mine.main(["--model", "zfnet224", "--split", "val", "--k", "2", "--maps", "2",
                      "--out", str(out)]) == 0
    top, meta = topk.load_topk(out / "topk.pt")
    assert len(meta["images"]) == 6 and meta["images"][0] == "ant/0.jpg (ant)"
    assert top["conv5"].values.shape == (256, 2) and top["conv1"].values.shape == (96, 2)
    assert (out / "top9_conv5.png").exists()
    from zflib.apps import explorer

    ui = explorer.app("smoke", models=["zfnet224"], cache_dir=tmp_path / "cache")
    view = ui._explorer("zfnet224").view(5, 3, 1)
    assert view.image.shape == (3, 224, 224) and view.occlusion is not None
    assert view.projection.shape == (3, 224, 224) and int((view.top.top.images >= 0).sum()) == 6


def test_killed_mining_resumes_to_the_same_result(tmp_path, monkeypatch):
    sub = mine.subject("alexnet64")
    images, _ = mine.images_of(sub, folder=_folder(tmp_path / "photos", 13))
    whole = mine.mine(sub, images, k=3, batch_size=2)
    partial = tmp_path / "partial.pt"
    real_save, saves = topk.save_topk, []

    def killed_after_two(path, top, **meta):
        real_save(path, top, **meta)
        saves.append(meta["next"])
        if len(saves) == 2:
            raise KeyboardInterrupt  # the run is killed once two chunks are saved

    monkeypatch.setattr(topk, "save_topk", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        mine.mine(sub, images, k=3, batch_size=2, checkpoint=partial, chunk=2)
    assert saves == [4, 8]
    monkeypatch.setattr(topk, "save_topk", real_save)
    calls = []
    real_mine = topk.mine_topk
    monkeypatch.setattr(topk, "mine_topk", lambda *a, **kw: calls.append(1) or real_mine(*a, **kw))
    resumed = mine.mine(sub, images, k=3, batch_size=2, checkpoint=partial, chunk=2)
    assert len(calls) == 2  # images 8..11 and 12: the two chunks not saved
    for layer in whole:
        for field in ("values", "images", "ys", "xs"):
            assert torch.equal(getattr(whole[layer], field), getattr(resumed[layer], field))
    calls.clear()  # another setting (k) does not read that file: all four chunks again
    other = mine.mine(sub, images, k=2, batch_size=2, checkpoint=partial, chunk=2)
    assert len(calls) == 4 and torch.equal(other["conv5"].values, whole["conv5"].values[:, :2])
    with pytest.raises(ValueError, match="chunk 0 out of range 1"):
        mine.mine(sub, images, checkpoint=partial, chunk=0)


@pytest.mark.parametrize("args, message", [
    (["--k", "0"], "--k 0 out of range 1.."),
    (["--batch-size", "0"], "--batch-size 0 out of range 1.."),
    (["--checkpoint-every", "0"], "--checkpoint-every 0 out of range 1.."),
    (["--maps", "-1"], "--maps -1 out of range 0.."),  # was found only after the mining pass
    (["--limit", "-2"], "--limit -2 out of range 0.."),
    (["--weights", "vgg16.pth"], "--weights is for --torchvision"),  # mined zfnet64 silently
    (["--torchvision", "alexnet", "--epoch", "2"], "--epoch is for committed models"),
    (["--device", "gpu"], "'gpu' is not a torch device"),
    (["--model", "nosuch"], "no artifact 'nosuch'"),
    (["--model", "zfnet64", "--epoch", "999"], "epoch 999 of 'zfnet64' not stored; valid"),
    (["--torchvision", "alexnet", "--weights", "missing.pth"], "no weights file at"),
    (["--torchvision", "resnet5"], "--torchvision 'resnet5' is no torchvision classification "
                                   "model; valid: alexnet, convnext_base"),
    (["--torchvision", "resnet18", "--layers", "layer9", "--folder", "PHOTOS"],
     "layer 'layer9' not in ResNet; valid: any module name"),
    (["--layers", "conv9", "--folder", "PHOTOS"], "layer 'conv9' not in this model; valid"),
    (["--folder", "NOWHERE"], "no folder"),
    (["--folder", "CORRUPT"], "no readable image in"),
    (["--out", "AFILE"], "is a file, not a folder"),
])
def test_cli_bad_arguments_are_one_line_errors(args, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("results of something else")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "a.jpg").write_text("not a jpeg")
    places = {"PHOTOS": str(_folder(tmp_path / "photos", 2)), "NOWHERE": str(tmp_path / "no"),
              "CORRUPT": str(tmp_path / "corrupt"), "AFILE": str(tmp_path / "afile")}
    args = [places.get(a, a) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        mine.main([*args, "--maps", "0"] if "--maps" not in args else args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "results of something else"


def test_a_damaged_checkpoint_is_mined_over(tmp_path):
    sub = mine.subject("alexnet64")
    images, _ = mine.images_of(sub, folder=_folder(tmp_path / "photos", 5))
    whole = mine.mine(sub, images, k=2, batch_size=2)
    partial = tmp_path / "partial.pt"
    topk.save_topk(partial, whole, key="x", next=2)
    partial.write_bytes(partial.read_bytes()[:200])  # truncated: a torch.load RuntimeError
    again = mine.mine(sub, images, k=2, batch_size=2, checkpoint=partial, chunk=1)
    assert torch.equal(again["conv5"].values, whole["conv5"].values)
    assert topk.load_topk(partial)[1]["next"] == 6  # rewritten whole


@pytest.mark.parametrize("script, args, message", [
    ("bench_mine.py", ["--ranks", "0"], "--ranks 0 out of range 1.."),
    ("bench_explorer.py", ["--repeats", "0"], "--repeats 0 out of range 1.."),  # was: median([])
    ("bench_deconv.py", ["--out", "TMP"], "is a folder"),  # was: the results lost at the end
])
def test_benchmark_scripts_refuse_bad_arguments_at_once(script, args, message, tmp_path):
    args = [str(tmp_path) if a == "TMP" else a for a in args]
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_any_torchvision_model_with_a_local_weights_file(tmp_path):
    """``--torchvision resnet18 --weights FILE``: the general path mines the stages of the
    ResNet (its default layers) and draws Fig. 2 for them."""
    import torchvision

    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    out = tmp_path / "out"
    args = ["--torchvision", "resnet18", "--weights", str(weights), "--folder",
            str(_folder(tmp_path / "photos", 3)), "--k", "2", "--maps", "1", "--out", str(out),
            "--layers", "layer1", "layer4", "--batch-size", "2"]
    assert mine.main(args) == 0
    top, meta = topk.load_topk(out / "topk.pt")
    assert list(top) == ["layer1", "layer4"] and meta["model"] == "resnet18"
    assert top["layer4"].values.shape == (512, 2)
    assert sorted(p.name for p in out.glob("*.png")) == ["top9_layer1.png", "top9_layer4.png"]
    sub = mine.subject(torchvision="resnet18", weights=str(weights))
    assert mine.default_layers(sub.model) == ["conv1", "layer1", "layer2", "layer3", "layer4"]


def test_cached_mine_and_evolution_equal_the_tensor_path(tmp_path, monkeypatch):
    """Mining uint8 images batch by batch (cached by their digest) gives topk.mine_topk over
    all their inputs at once, and Fig. 4's evolution gives topk.strongest_over_epochs'."""
    subs = {1: mine.subject("zfnet64", epoch=1), 2: mine.subject("zfnet64", epoch=2)}
    images, _ = mine.images_of(subs[2], folder=_folder(tmp_path / "photos", 11))
    x, display = subs[2].preprocess.inputs(images), subs[2].preprocess.display(images)
    top = mine.cached_mine(subs[2], images, cache_dir=tmp_path / "cache", k=2, batch_size=4)
    ref = topk.mine_topk(subs[2].model, x, k=2)
    for layer in ref:
        for field in ("values", "images", "ys", "xs"):
            assert torch.equal(getattr(top[layer], field), getattr(ref[layer], field))
    monkeypatch.setattr(topk, "mine_topk", lambda *a, **k: pytest.fail("mined again"))
    again = mine.cached_mine(subs[2], images, cache_dir=tmp_path / "cache", k=2)
    assert torch.equal(again["conv5"].values, top["conv5"].values)  # read back, any batching
    monkeypatch.undo()
    maps = topk.choose_maps(subs[2].model, ["conv1", "conv4"], 2, seed=3)
    got = mine.evolution(subs.__getitem__, [1, 2], images, maps, batch_size=4)
    want = topk.strongest_over_epochs(lambda e: subs[e].model, [1, 2], x, display, maps)
    assert list(got) == [1, 2] and all(list(got[e]) == list(maps) for e in got)
    for e in want:
        for layer in maps:
            g, w = got[e][layer], want[e][layer]
            assert torch.equal(g.top.images, w.top.images) and torch.equal(g.maps, w.maps)
            assert torch.allclose(g.projections, w.projections, atol=1e-5)
            assert torch.allclose(g.patches, w.patches)
    assert not torch.equal(got[1]["conv1"].projections, got[2]["conv1"].projections)


def test_cli_shows_mining_projection_and_drawing_on_stderr_unless_quiet(tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.delenv("TQDM_DISABLE")  # the suite turns bars off (conftest)
    args = ["--model", "alexnet64", "--folder", str(_folder(tmp_path / "photos", 6)),
            "--k", "2", "--batch-size", "4", "--maps", "1", "--layers", "conv1", "conv2"]
    assert mine.main([*args, "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert '"images": 6' in out  # the summary alone on stdout
    for bar in ("mining conv1-conv2", "2/2", "projecting conv1-conv2",
                "drawing top9_<layer>.png"):
        assert bar in err, (bar, err)
    assert mine.main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert (tmp_path / "b" / "top9_conv2.png").exists()
