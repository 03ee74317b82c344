"""The three backward rules against captum's per-neuron methods, and a whole sanity-check curve.

Model: ZFNet-64 (56x56 inputs), randomly initialised (Kaiming, seed 0): timings do not depend
on trained weights. Images: the Tiny ImageNet validation split (centre crops). One thread.

1. ``speedup_vs_captum_<rule>`` (``deconvnet``, ``guided``, ``gradient``): the "every map of one
   image" workload: the strongest activation of each of conv5's 256 maps of one image,
   projected (:func:`zflib.methods.deconv.project_strongest` with ``rule``: one forward pass,
   batched projections over receptive fields) against captum's ``NeuronDeconvolution``,
   ``NeuronGuidedBackprop`` and ``NeuronGradient``, one neuron a call. Both pass the LRN by its
   Jacobian (``lrn="jacobian"``) so that they compute the same maps; results are asserted
   equal (1e-4 relative, ours divided by the activation) before the times are written. Times
   are the process's CPU time (one thread; the machine is shared, as ``bench_deconv``'s
   general part), each side's the best of ``--repeat`` runs. Goal: >= 10x.
2. ``cascade_curve_seconds``: one cascading-randomisation curve
   (:func:`zflib.methods.sanity.randomisation_test`): 5 layers (conv5..conv1), 3 rules, 10
   images, one seed, the class logit projected, all four of Adebayo's measures: wall-clock
   seconds (``cascade_curve_cpu_seconds``: the process's CPU time). Goal: <= 60 s.

Run: ``python benchmarks/bench_sanity.py [--threads 1] [--images 10] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
import warnings
from pathlib import Path

import torch
from _args import check
from torch import nn

from zflib.config import get_config
from zflib.methods import deconv, sanity
from zflib.methods.deconv_steps import RULES
from zflib.training.models import build_model
from zflib.training.train import machine_name

CAPTUM = {"deconvnet": "NeuronDeconvolution", "guided": "NeuronGuidedBackprop",
          "gradient": "NeuronGradient"}


def _captum_model(model: nn.Module) -> nn.Module:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # captum's backward hooks do not accept in-place ReLUs
    return ref


def main() -> None:
    import captum.attr

    from zflib.data import load_split, mean_image, to_input

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=10, help="images of the cascade curve")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side (the best counts)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/bench_sanity.json"))
    args = ap.parse_args()
    check(ap, args, "threads", "images", "repeat", out=args.out)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    cfg = get_config("full")
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ref = _captum_model(model)
    module = ref.features[ref.feature_names["conv5"]]
    val = load_split(cfg, "val")
    x = to_input(val.images[:args.images], mean_image(cfg), cfg)
    img = x[:1]
    res: dict[str, float | str] = {}

    # --- 1. every conv5 map of one image, each rule against captum -------------------------
    for rule in RULES:
        method = getattr(captum.attr, CAPTUM[rule])(ref, module)
        deconv.project_strongest(model, img, "conv5", maps=[0, 1], rule=rule, lrn="jacobian")
        method.attribute(img, (0, 0, 0))  # warm-up, both sides
        t_ours = t_cap = math.inf
        for _ in range(args.repeat):
            t = time.process_time()
            st = deconv.project_strongest(model, img, "conv5", rule=rule, lrn="jacobian")
            t_ours = min(t_ours, time.process_time() - t)
            t = time.process_time()
            ref_pix = torch.stack([method.attribute(img, (int(m), *st.positions[i].tolist()))
                                   [0] for i, m in enumerate(st.maps)])
            t_cap = min(t_cap, time.process_time() - t)
        alive = (st.values > 0).nonzero().flatten()  # dead maps: ours is 0, captum's is not
        ours = st.pixels[alive] / st.values[alive].view(-1, 1, 1, 1)
        err = ((ours - ref_pix[alive]).flatten(1).norm(dim=1)
               / ref_pix[alive].flatten(1).norm(dim=1).clamp(min=1e-30))
        worst = float(err.max())
        assert worst <= 1e-4, (rule, worst)
        res[f"speedup_vs_captum_{rule}"] = round(t_cap / t_ours, 2)
        res[f"image_conv5_{rule}_zflib_s"] = round(t_ours, 3)
        res[f"image_conv5_{rule}_captum_s"] = round(t_cap, 2)
        res[f"image_conv5_{rule}_max_rel_err"] = worst
        print(f"{rule:9s}: {len(st.maps)} conv5 maps  zflib {t_ours:.3f}s  captum {t_cap:.2f}s"
              f"  x{t_cap / t_ours:.1f}  (max rel err {worst:.1e})")

    # --- 2. a whole cascading-randomisation curve ------------------------------------------
    t, cpu = time.perf_counter(), time.process_time()  # once: what a user waits for
    curve = sanity.randomisation_test(model, x, rules=RULES, order="cascading",
                                      layers=["conv5", "conv4", "conv3", "conv2", "conv1"],
                                      seeds=(0,))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    res["cascade_curve_seconds"] = round(seconds, 2)
    res["cascade_curve_cpu_seconds"] = round(cpu, 2)
    res["cascade_curve_images"] = len(x)
    res["cascade_curve_layers"] = len(curve.steps)
    res["cascade_curve_rules"] = len(curve.rules)
    print(f"cascade: {len(curve.steps)} layers x {len(curve.rules)} rules x {len(x)} images, "
          f"{len(curve.measures)} measures: {seconds:.1f} s")
    res["repeat"] = args.repeat
    res["threads"] = args.threads
    res["machine"] = (f"{machine_name(torch.device('cpu'))}, torch {torch.__version__}; "
                      "ZFNet-64 random init")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
