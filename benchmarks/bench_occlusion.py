"""Occlusion maps: zflib's incremental inference against full re-inference and captum.

Three parts, one process, one image per model, seeded weights (timings do not depend on
trained weights); each timing is the best of its repeats, in CPU seconds of this process on the
CPU (the machine may be shared), wall seconds on a GPU.

1. ZFNet-64, Fig. 7's settings (``--size 12 --stride 4`` on the 56-pixel input): zflib's three
   maps (b), (d), (e) (``zflib_three_maps_s``, :mod:`zflib.methods.incremental`) against zflib's
   batched full re-inference (``method="full"``) and captum's ``Occlusion`` computing (d) alone,
   at its default ``perturbations_per_eval=1`` and at the best value of a sweep.
2. 224 pixels, a ``--size-224`` square every ``--stride-224`` pixels (32 and 8): torchvision's
   VGG16, ZFNet-224 and AlexNet-224 (``--models-224``). Per model: the bound on the speedup of
   exact incremental inference (``*_bound``: multiply-adds of full re-inference over those
   that the largest changed region still needs, per layer, the fully connected layers in full;
   :func:`zflib.methods.incremental.speedup_bound`; ``*_bound_per_position``: each position's own
   region, the tighter bound), the measured speedup over full re-inference and its fraction of
   the bound, and (``--captum-224``) the speedup over captum's best ``perturbations_per_eval``
   of ``--ppe-224``. Goals (issue 26): >= 0.8 of the bound over full re-inference and >= 2.5x
   over captum's best on VGG16 and ZFNet-224.
3. The approximate mode on the first 224 model (``--approximate``: projective-field
   thresholds): speedup over full re-inference (goal >= 10x on VGG16) and its error against
   the exact maps: max and mean absolute difference of (d) and (b), Spearman rank correlation
   of (d) over the positions, agreement of (e). The last layer's weights are scaled so that
   the clean image's logits have standard deviation 3 (a random network's softmax is flat
   otherwise, and its errors would be meaninglessly small).

Every exact map is checked against full re-inference before timings are reported.

    python benchmarks/bench_occlusion.py [--size 12] [--stride 4] [--threads 1] [--device cpu]
        [--models-224 vgg16,zfnet,alexnet] [--approximate 0.3,0.5] [--repeats-224 1]
    python benchmarks/bench_occlusion.py --sweep-full-above 0.3,0.45,0.6,0.75,0.9,1
        (times the fallback threshold instead; prints, writes nothing)

Writes ``benchmarks/results/bench_occlusion.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch
from _args import check
from captum.attr import Occlusion

from zflib.methods import incremental
from zflib.methods.occlusion import OcclusionMaps, occlusion_maps, pixel_attribution, window_starts
from zflib.training.models import build_model
from zflib.training.train import machine_name

OUT = Path(__file__).resolve().parent / "results" / "bench_occlusion.json"
MODELS_224 = ("vgg16", "zfnet", "alexnet")


def _time(fn, device: torch.device) -> float:
    """Seconds of one call: this process's CPU time on the CPU (robust to other processes on
    a shared machine; one thread, so equal to wall time when alone), wall time on a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - t
    t = time.process_time()
    fn()
    return time.process_time() - t


def _best(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Best time of each function over ``repeats`` interleaved rounds."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(_time(fn, device))
    return {k: min(v) for k, v in times.items()}


def _model_224(name: str, device: torch.device):
    torch.manual_seed(0)
    if name == "vgg16":
        import torchvision

        from zflib.apps.explorer import TorchvisionNet

        return TorchvisionNet(torchvision.models.vgg16(weights=None), "vgg16").eval().to(device)
    return build_model(name, num_classes=1000, size=224, init="kaiming").eval().to(device)


def _bounds(model, s: int, size: int, stride: int) -> tuple[float, float]:
    ys = window_starts(s, size, stride)
    return (incremental.speedup_bound(model, (s, s), ys, ys, size, per_position=False),
            incremental.speedup_bound(model, (s, s), ys, ys, size))


def _check_exact(a: OcclusionMaps, b: OcclusionMaps, what: str) -> float:
    """Max |difference| of (d) between two exact computations; raise if the maps differ."""
    diff = float((a.prob - b.prob).abs().max())
    rel = float((a.feature - b.feature).abs().max() / b.feature.abs().max().clamp_min(1e-30))
    if diff > 1e-5 or rel > 1e-4 or not torch.equal(a.top_class, b.top_class):
        raise AssertionError(f"{what}: incremental differs from full re-inference "
                             f"(prob {diff:.2e}, feature {rel:.2e})")
    return diff


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.flatten().double().argsort().argsort().double()
    rb = b.flatten().double().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def _captum(model, x, base, target: int, size: int, stride: int, ppe: int):
    occ = Occlusion(lambda z: torch.softmax(model(z), 1))
    with torch.no_grad():
        return occ.attribute(x[None], sliding_window_shapes=(3, size, size),
                             strides=(3, stride, stride), baselines=base[None], target=target,
                             perturbations_per_eval=ppe)


def _fig7_64(args, device: torch.device, res: dict) -> None:
    """Part 1: ZFNet-64 at Fig. 7's settings (the keys of earlier runs kept)."""
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval().to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 56, 56, generator=g).to(device)
    grey = (0.1 * torch.randn(3, 56, 56, generator=g)).to(device)  # a mean-pixel-like baseline
    target, size, stride = 7, args.size, args.stride
    n_pos = len(window_starts(56, size, stride)) ** 2

    def ours(method: str = "incremental"):
        return occlusion_maps(model, x, target, size=size, stride=stride, baseline=grey,
                              method=method)

    maps, ref = ours(), _captum(model, x, grey, target, size, stride, 64)  # warm-up and checks
    _check_exact(maps, ours("full"), "ZFNet-64")
    diff = (pixel_attribution(maps.prob.cpu(), maps.clean_prob, size=size, stride=stride,
                              shape=(56, 56)) - ref[0, 0].cpu()).abs().max()
    sweep = sorted({1, 8, 16, 32, 64, 128, n_pos})
    best = _best({"zflib": ours, "full": lambda: ours("full")}
                 | {f"ppe{p}": (lambda p=p: _captum(model, x, grey, target, size, stride, p))
                    for p in sweep}, args.repeats, device)
    best_ppe = min(sweep, key=lambda p: best[f"ppe{p}"])
    bound, bound_pos = _bounds(model, 56, size, stride)
    res |= {
        "size": size, "stride": stride, "positions": n_pos,
        "zflib_three_maps_s": best["zflib"],
        "zflib_full_reinference_s": best["full"],
        "speedup_vs_full_reinference": best["full"] / best["zflib"],
        "bound": bound, "bound_per_position": bound_pos,
        "captum_default_s": best["ppe1"],
        "captum_best_s": best[f"ppe{best_ppe}"],
        "captum_best_perturbations_per_eval": best_ppe,
        "speedup_vs_captum_default": best["ppe1"] / best["zflib"],
        "speedup_vs_captum_best": best[f"ppe{best_ppe}"] / best["zflib"],
        "max_abs_diff_vs_captum": float(diff),
    } | {f"captum_ppe{p}_s": best[f"ppe{p}"] for p in sweep}
    print(f"ZFNet-64: {n_pos} positions of a {size}px square, stride {stride}")
    print(f"  zflib, three maps:            {best['zflib'] * 1e3:8.1f} ms  "
          f"({res['speedup_vs_full_reinference']:.2f}x full re-inference "
          f"{best['full'] * 1e3:.1f} ms; bound {bound:.2f}x, per position {bound_pos:.2f}x)")
    print(f"  captum, one map, default ppe: {best['ppe1'] * 1e3:8.1f} ms  "
          f"-> zflib {res['speedup_vs_captum_default']:.2f}x faster")
    print(f"  captum, one map, best ppe={best_ppe:<3d}: {best[f'ppe{best_ppe}'] * 1e3:6.1f} ms  "
          f"-> zflib {res['speedup_vs_captum_best']:.2f}x faster")
    print(f"  max |difference| of P(true) attribution vs captum: {float(diff):.2e}")


def _at_224(args, name: str, device: torch.device, res: dict, approximate: bool) -> None:
    """Part 2 (and 3 when ``approximate``) for one 224-pixel model."""
    model = _model_224(name, device)
    s, size, stride = 224, args.size_224, args.stride_224
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, s, s, generator=g).to(device)
    base = torch.zeros(3, s, s, device=device)  # the mean pixel after normalisation
    last = model.classifier[-1]
    with torch.no_grad():
        logits = model(x[None])[0]
        last.weight.mul_(3 / logits.std())
        last.bias.mul_(3 / logits.std())
        target = int(model(x[None])[0].argmax())
    layer = list(model.feature_names)[-1]
    tag = f"{name}224_"

    def ours(method: str = "incremental", approx: float | None = None):
        return occlusion_maps(model, x, target, size=size, stride=stride, baseline=base,
                              layer=layer, method=method, approximate=approx,
                              batch_size=args.batch_224 if method == "full" else 128)

    exact, full = ours(), ours("full")  # warm-up, and the check that both compute the same
    diff = _check_exact(exact, full, name)
    fns = {"incremental": ours, "full": lambda: ours("full")}
    ppes = [int(p) for p in args.ppe_224.split(",")] if args.captum_224 and name != "alexnet" \
        else []
    fns |= {f"ppe{p}": (lambda p=p: _captum(model, x, base, target, size, stride, p))
            for p in ppes}
    taus = [float(t) for t in args.approximate.split(",")] if approximate else []
    fns |= {f"tau{t}": (lambda t=t: ours(approx=t)) for t in taus}
    best = _best(fns, args.repeats_224, device)
    bound, bound_pos = _bounds(model, s, size, stride)
    speed = best["full"] / best["incremental"]
    res |= {f"{tag}bound": bound, f"{tag}bound_per_position": bound_pos,
            f"{tag}incremental_s": best["incremental"], f"{tag}full_reinference_s": best["full"],
            f"{tag}speedup_vs_full_reinference": speed,
            f"{tag}fraction_of_bound": speed / bound,
            f"{tag}max_abs_diff_prob_vs_full": diff}
    n_pos = len(window_starts(s, size, stride)) ** 2
    print(f"{name}-224: {n_pos} positions of a {size}px square, stride {stride}")
    print(f"  exact incremental {best['incremental']:.2f} s, full re-inference "
          f"{best['full']:.2f} s: {speed:.2f}x; bound {bound:.2f}x -> {speed / bound:.2f} of "
          f"it (per-position bound {bound_pos:.2f}x -> {speed / bound_pos:.2f})")
    if ppes:
        p = min(ppes, key=lambda p: best[f"ppe{p}"])
        res |= {f"{tag}captum_ppe{q}_s": best[f"ppe{q}"] for q in ppes}
        res |= {f"{tag}captum_best_s": best[f"ppe{p}"],
                f"{tag}captum_best_perturbations_per_eval": p,
                f"{tag}speedup_vs_captum_best": best[f"ppe{p}"] / best["incremental"]}
        print(f"  captum, one map, best ppe={p}: {best[f'ppe{p}']:.2f} s -> zflib "
              f"{res[f'{tag}speedup_vs_captum_best']:.2f}x faster")
    for t in taus:
        a = ours(approx=t)
        key = f"{tag}approx{t:g}_"
        dp, df = (a.prob - exact.prob).abs(), (a.feature - exact.feature).abs()
        res |= {f"{key}s": best[f"tau{t}"],
                f"{key}speedup_vs_full_reinference": best["full"] / best[f"tau{t}"],
                f"{key}prob_max_abs_diff": float(dp.max()),
                f"{key}prob_mean_abs_diff": float(dp.mean()),
                f"{key}prob_range": float(exact.prob.max() - exact.prob.min()),
                f"{key}prob_rank_correlation": _spearman(a.prob, exact.prob),
                f"{key}feature_max_abs_diff": float(df.max()),
                f"{key}feature_mean_abs_diff": float(df.mean()),
                f"{key}top_class_agreement": float((a.top_class == exact.top_class).double()
                                                   .mean())}
        print(f"  approximate tau={t:g}: {best[f'tau{t}']:.2f} s, "
              f"{res[f'{key}speedup_vs_full_reinference']:.1f}x full re-inference; P(class) "
              f"max |diff| {dp.max():.2e}, mean {dp.mean():.2e} (map range "
              f"{res[f'{key}prob_range']:.2e}), rank correlation "
              f"{res[f'{key}prob_rank_correlation']:.3f}; top class agrees at "
              f"{100 * res[f'{key}top_class_agreement']:.0f} % of positions")


def _sweep_full_above(args, device: torch.device, res: dict) -> None:
    """The measurement behind :data:`zflib.methods.incremental.FULL_ABOVE`: exact incremental maps
    with the fallback to full maps at each share of ``--sweep-full-above``, on ZFNet-64 at Fig. 7's
    settings and on each 224-pixel model (square ``--size-224`` every 16 pixels, to keep the
    sweep short)."""
    shares = [float(v) for v in args.sweep_full_above.split(",")]
    default = incremental.FULL_ABOVE
    cases = [("zfnet64", build_model("zfnet", num_classes=200, size=64, init="kaiming"),
              args.size, args.stride)]
    cases += [(f"{m}224", _model_224(m, device), args.size_224, 16)
              for m in args.models_224.split(",") if m]
    try:
        for name, model, size, stride in cases:
            model = model.eval().to(device)
            s = model.input_size
            x = torch.randn(3, s, s, generator=torch.Generator().manual_seed(3)).to(device)
            def run(share, model=model, x=x, size=size, stride=stride):
                incremental.FULL_ABOVE = share
                occlusion_maps(model, x, 0, size=size, stride=stride, baseline=0.0)

            best = _best({f"{v:g}": functools.partial(run, v) for v in shares}, args.repeats,
                         device)
            res |= {f"full_above_{name}_{k}_s": v for k, v in best.items()}
            print(f"fallback share sweep, {name}: "
                  + ", ".join(f"{k}: {v:.2f} s" for k, v in best.items()))
    finally:
        incremental.FULL_ABOVE = default


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=12)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size-224", type=int, default=32)
    ap.add_argument("--stride-224", type=int, default=8)
    ap.add_argument("--models-224", default=",".join(MODELS_224),
                    help=f"comma-separated, of {', '.join(MODELS_224)}; empty: none")
    ap.add_argument("--repeats-224", type=int, default=1)
    ap.add_argument("--batch-224", type=int, default=32, help="batch of full re-inference")
    ap.add_argument("--ppe-224", default="16,64", help="captum's perturbations_per_eval tried")
    ap.add_argument("--no-captum-224", dest="captum_224", action="store_false")
    ap.add_argument("--approximate", default="0.3,0.5",
                    help="projective-field thresholds timed on the first 224 model")
    ap.add_argument("--sweep-full-above", default="",
                    help="comma-separated shares: time the fallback rule's threshold instead")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    check(ap, args, "size", "stride", "threads", "repeats", "size_224", "stride_224",
          "repeats_224", "batch_224", out=args.out, device=args.device)
    models = [m for m in args.models_224.split(",") if m]
    if bad := [m for m in models if m not in MODELS_224]:
        ap.error(f"--models-224: unknown {bad}; valid: {', '.join(MODELS_224)}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = machine_name(device)
    res: dict[str, float | str] = {
        "machine": f"{name}; timed in "
                   + ("process CPU time" if device.type == "cpu" else "wall time"),
        "threads": args.threads, "size_224": args.size_224, "stride_224": args.stride_224}
    print(name)
    if args.sweep_full_above:
        _sweep_full_above(args, device, res)
        print(json.dumps(res, indent=1))
        return res
    _fig7_64(args, device, res)
    for i, m in enumerate(models):
        _at_224(args, m, device, res, approximate=i == 0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
