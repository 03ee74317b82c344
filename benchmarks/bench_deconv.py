"""Deconvnet projections and top-k mining: zflib against captum, same process, same inputs.

Model: ZFNet-64 (56x56 inputs), randomly initialised (Kaiming, seed 0): timings do not depend
on trained weights. Images: the Tiny ImageNet validation split (centre crops).

1. ``speedup_vs_captum_image``: the strongest activation of every map of layers 1-5 of one
   image, projected (the explorer's workload): zflib (one forward pass, batched projections
   over receptive fields) against captum's ``NeuronDeconvolution`` one neuron at a time.
   Both use the LRN Jacobian (``lrn="jacobian"``) so that they compute the same map; results
   are asserted close before timing is reported. Per-layer ratios are written too.
2. ``speedup_vs_captum_top9``: the top-9 activations (mined over ``--images`` validation
   images) of ``--top9-maps`` seeded maps per layer, projected; captum one neuron at a time
   on each neuron's image. ``top9_floor_fraction`` = time of the forward passes of the distinct
   images alone (up to each layer, batched) / zflib's time (1.0 would be the floor).
3. ``mining_vs_forward``: images per second of :func:`zflib.methods.topk.mine_topk` (layers 1-5,
k=9)
   over ``--images`` validation images (default: all 10,000) against a bare evaluation forward
   pass of the whole model (``model(x)`` under ``no_grad``), same batches of 256;
   ``mining_peak_rss_mb``: peak resident memory of the process (the decoded dataset included),
   ``mining_rss_growth_mb`` and ``forward_rss_growth_mb``: the highest resident memory while
   mining, and while running the bare forward pass, above the memory before it (sampled every
   5 ms), ``mining_state_kb``: the top-k state (constant in the number of images).

4. ``general_<layer>_speedup`` (the general path, :mod:`zflib.methods.deconv_general`): ResNet-18 at
   224 pixels (seeded weights), the strongest activation of every map of ``layer2`` (128 maps)
   and ``layer4`` (512), projected, against captum's ``NeuronDeconvolution`` one neuron a call
   (results asserted equal to 1e-5 relative). ``general_<layer>_bound`` is the ratio of the two
   multiply-add counts, computed from the model (convolutions and linear layers): captum pays a
   whole forward pass and a backward pass to the input per neuron; a batched deconvnet one
   shared forward pass to the layer, then per projection a backward pass over the crop of the
   input that holds the neuron's receptive field (a backward to the input costs what the
   forward does). ``general_<layer>_of_bound`` = speedup / bound (goal: >= 0.6).

Run: ``python benchmarks/bench_deconv.py [--images 10000] [--top9-maps 384] [--threads 1]``
(384 maps per layer: every map of layers 1-5; ``--only general`` or ``--only zfnet`` runs one
part, for a quick look).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import torch
from _args import check
from _memory import PeakRSS, resource_peak_mb
from torch import nn

from zflib.config import get_config
from zflib.methods import deconv, topk
from zflib.training.models import build_model
from zflib.training.train import machine_name

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def _captum_model(model: nn.Module) -> nn.Module:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # captum's backward hooks do not accept in-place ReLUs
    return ref


def _captum(nd_by_layer: dict, x: torch.Tensor, jobs, clock=time.perf_counter
            ) -> tuple[torch.Tensor, float]:
    """jobs: (layer, image index, map, y, x); returns stacked attributions and seconds."""
    out = []
    t = clock()
    for layer, img, m, y, xx in jobs:
        out.append(nd_by_layer[layer].attribute(x[img:img + 1], (m, y, xx))[0])
    return torch.stack(out), clock() - t


def _close(ours: torch.Tensor, scale: torch.Tensor, ref: torch.Tensor) -> float:
    """Worst relative error, ours divided by the starting values (captum starts from 1)."""
    ours = ours / scale.view(-1, 1, 1, 1)
    err = (ours - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp(min=1e-30)
    return float(err.max())


def general(res: dict) -> None:
    """Part 4: the general path on ResNet-18 against captum, beside the multiply-add bound."""
    import torchvision
    from captum.attr import NeuronDeconvolution

    from zflib.methods import deconv_general

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ref = _captum_model(model)
    x = torch.randn(1, 3, 224, 224)
    full_macs = deconv_general.macs(model, x)
    for layer in ("layer2", "layer4"):
        deconv.project_strongest(model, x, layer, maps=[0, 1])  # warm-up (and geometry)
        t = time.process_time()  # CPU time: the machine may be shared (one thread)
        st = deconv.project_strongest(model, x, layer)
        t_ours = time.process_time() - t
        nd = NeuronDeconvolution(ref, dict(ref.named_modules())[layer])
        nd.attribute(x, (0, 0, 0))  # warm-up
        jobs = [(layer, 0, int(m), *st.positions[m].tolist()) for m in range(len(st.maps))]
        ref_pix, t_cap = _captum({layer: nd}, x, jobs, clock=time.process_time)
        alive = (st.values > 0).nonzero().flatten()
        worst = _close(st.pixels[alive], st.values[alive], ref_pix[alive])
        assert worst <= 1e-5, (layer, worst)
        # the bound: K (forward + backward to the input) against one forward to the layer and
        # K backward passes over each neuron's receptive field clipped to the image (counted
        # per size as a forward pass over an input of that size)
        tr = deconv_general.forward_trace(model, x, layer)
        layer_macs = deconv_general.macs(model, x, layer)
        shapes: dict[tuple[int, int], int] = {}
        for h, w in tr.rf_boxes(layer, st.positions).tolist():
            shapes[(h, w)] = shapes.get((h, w), 0) + 1
        crops = sum(n * deconv_general.macs(model, torch.zeros(1, 3, h, w), layer)
                    for (h, w), n in shapes.items())
        k = len(st.maps)
        bound = k * (full_macs + layer_macs) / (layer_macs + crops)
        speedup = t_cap / t_ours
        res[f"general_{layer}_maps"] = k
        res[f"general_{layer}_zflib_s"] = round(t_ours, 3)
        res[f"general_{layer}_captum_s"] = round(t_cap, 2)
        res[f"general_{layer}_speedup"] = round(speedup, 2)
        res[f"general_{layer}_bound"] = round(bound, 2)
        res[f"general_{layer}_of_bound"] = round(speedup / bound, 3)
        res[f"general_{layer}_max_rel_err"] = worst
        print(f"resnet18 {layer}: {k} maps  zflib {t_ours:.2f}s  captum {t_cap:.1f}s  "
              f"x{speedup:.1f}; multiply-add bound x{bound:.1f} ({speedup / bound:.2f} of it); "
              f"max rel err {worst:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000, help="validation images mined")
    ap.add_argument("--top9-maps", type=int, default=384,
                    help="maps per layer (top-9 bench; 384: all of every layer)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=["", "zfnet", "general"], default="",
                    help="run one part only (zfnet: parts 1-3; general: part 4)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/bench_deconv.json"))
    args = ap.parse_args()
    check(ap, args, "images", "top9_maps", "threads", out=args.out)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    res: dict[str, float | str] = {}
    if args.only != "zfnet":
        general(res)
    if args.only != "general":
        zfnet(args, res)
    res["threads"] = args.threads
    res["machine"] = (f"{machine_name(torch.device('cpu'))}, torch {torch.__version__}; "
                      "ZFNet-64 and ResNet-18 random init")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")


def zfnet(args: argparse.Namespace, res: dict) -> None:
    """Parts 1-3: ZFNet-64 (the fast path) against captum, and mining."""
    from captum.attr import NeuronDeconvolution

    from zflib.data import load_split, mean_image, to_input

    cfg = get_config("full")
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ref = _captum_model(model)
    nd = {n: NeuronDeconvolution(ref, ref.features[ref.feature_names[n]]) for n in LAYERS}
    val = load_split(cfg, "val")
    n_img = min(args.images, len(val))
    x = to_input(val.images[:n_img], mean_image(cfg), cfg)

    # --- 1. one image, strongest activation of every map of layers 1-5 -------------------
    img = x[:1]
    for n in LAYERS:  # warm-up, both sides
        deconv.project_strongest(model, img, n, lrn="jacobian")
        nd[n].attribute(img, (0, 0, 0))
    t = time.perf_counter()
    tr = deconv.forward_trace(model, img, LAYERS)
    ours_img, t_layer = {}, {}
    for n in LAYERS:
        t0 = time.perf_counter()
        pos, val_ = tr.strongest(n)
        c = len(val_)
        ours_img[n] = (tr.project(n, torch.arange(c), pos, lrn="jacobian"), pos, val_)
        t_layer[n] = time.perf_counter() - t0
    t_ours = time.perf_counter() - t
    t_skip = time.perf_counter()
    tr = deconv.forward_trace(model, img, LAYERS)
    for n in LAYERS:
        pos, _ = tr.strongest(n)
        tr.project(n, torch.arange(len(pos)), pos)
    t_skip = time.perf_counter() - t_skip
    t_cap_total, worst = 0.0, 0.0
    for n in LAYERS:
        pix, pos, val_ = ours_img[n]
        alive = (val_ > 0).nonzero().flatten()  # dead maps: ours is 0, captum's is not
        jobs = [(n, 0, int(m), *pos[m].tolist()) for m in range(len(val_))]
        ref_pix, t_cap = _captum(nd, img, jobs)
        worst = max(worst, _close(pix[alive], val_[alive], ref_pix[alive]))
        t_cap_total += t_cap
        res[f"speedup_vs_captum_image_{n}"] = round(t_cap / t_layer[n], 2)
        print(f"image  {n}: {len(val_)} maps  zflib {t_layer[n]:.3f}s  captum {t_cap:.2f}s  "
              f"x{t_cap / t_layer[n]:.1f}")
    assert worst <= 1e-4, worst
    res["speedup_vs_captum_image"] = round(t_cap_total / t_ours, 2)
    res["speedup_vs_captum_image_lrn_skip"] = round(t_cap_total / t_skip, 2)
    res["image_zflib_s"] = round(t_ours, 3)
    res["image_zflib_lrn_skip_s"] = round(t_skip, 3)
    res["image_captum_s"] = round(t_cap_total, 2)
    res["image_max_rel_err"] = worst
    print(f"image  all: zflib {t_ours:.2f}s (lrn skip {t_skip:.2f}s), captum "
          f"{t_cap_total:.1f}s: x{t_cap_total / t_ours:.1f}  (max rel err {worst:.1e})")

    # --- 3. mining throughput (also gives the top-9 for 2) ---------------------------------
    bs = 256
    batches = [x[i:i + bs] for i in range(0, n_img, bs)]
    with torch.no_grad():
        model(batches[0])
        with PeakRSS() as mem_fwd:
            t = time.perf_counter()
            for b in batches:
                model(b)
            t_fwd = time.perf_counter() - t
    with PeakRSS() as mem_mine:
        t = time.perf_counter()
        top = topk.mine_topk(model, batches, layers=LAYERS, k=9)
        t_mine = time.perf_counter() - t
    rss1 = resource_peak_mb()
    res["mining_state_kb"] = round(sum(t.values.nbytes + t.images.nbytes + t.ys.nbytes
                                       + t.xs.nbytes for t in top.values()) / 1024, 1)
    res["mining_rss_growth_mb"] = round(mem_mine.growth_mb, 1)
    res["forward_rss_growth_mb"] = round(mem_fwd.growth_mb, 1)
    res["mining_images"] = n_img
    res["mining_images_per_s"] = round(n_img / t_mine, 1)
    res["forward_images_per_s"] = round(n_img / t_fwd, 1)
    res["mining_vs_forward"] = round(t_fwd / t_mine, 3)
    res["mining_peak_rss_mb"] = round(rss1)
    print(f"mining {n_img} images: {n_img / t_mine:.0f} img/s; bare forward "
          f"{n_img / t_fwd:.0f} img/s: x{t_fwd / t_mine:.2f}; peak RSS "
          f"{rss1:.0f} MB; mining raised memory by {mem_mine.growth_mb:.0f} MB at most, the "
          f"bare forward pass by {mem_fwd.growth_mb:.0f} MB (state {res['mining_state_kb']} kB)")

    # --- 2. top-9 projections of a seeded subset of maps per layer -------------------------
    maps = topk.choose_maps(model, LAYERS, args.top9_maps, seed=0)
    t_ours = t_cap_total = t_floor = 0.0
    worst = 0.0
    for n in LAYERS:
        sel = top[n].select(maps[n])
        mm = maps[n][:, None].expand_as(sel.images).reshape(-1)
        ii, yy, xx = sel.images.reshape(-1), sel.ys.reshape(-1), sel.xs.reshape(-1)
        distinct, local = ii.unique(return_inverse=True)
        t = time.perf_counter()
        tr = deconv.forward_trace(model, x[distinct], n)
        ours = tr.project(n, mm, torch.stack([yy, xx], 1), local, lrn="jacobian")
        t_n = time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            model.features[: model.feature_names[n] + 1](x[distinct])
        t_f = time.perf_counter() - t
        jobs = [(n, int(i), int(m), int(y), int(x_)) for i, m, y, x_ in zip(ii, mm, yy, xx,
                                                                            strict=True)]
        ref_pix, t_cap = _captum(nd, x, jobs)
        vals = sel.values.reshape(-1)
        alive = (vals > 0).nonzero().flatten()
        worst = max(worst, _close(ours[alive], vals[alive], ref_pix[alive]))
        t_ours, t_cap_total, t_floor = t_ours + t_n, t_cap_total + t_cap, t_floor + t_f
        print(f"top9   {n}: {len(mm)} projections of {len(distinct)} images  zflib "
              f"{t_n:.2f}s (forward alone {t_f:.2f}s)  captum {t_cap:.1f}s  x{t_cap / t_n:.1f}")
    assert worst <= 1e-4, worst
    res["speedup_vs_captum_top9"] = round(t_cap_total / t_ours, 2)
    res["top9_floor_fraction"] = round(t_floor / t_ours, 3)
    res["top9_maps_per_layer"] = args.top9_maps
    res["top9_maps"] = sum(len(m) for m in maps.values())
    res["top9_zflib_s"] = round(t_ours, 3)
    res["top9_captum_s"] = round(t_cap_total, 2)
    res["top9_max_rel_err"] = worst
    print(f"top9   all: zflib {t_ours:.2f}s, captum {t_cap_total:.1f}s: "
          f"x{t_cap_total / t_ours:.1f}; forward passes alone are "
          f"{t_floor / t_ours:.0%} of zflib's time")


if __name__ == "__main__":
    main()
