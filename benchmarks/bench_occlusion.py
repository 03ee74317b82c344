"""Occlusion maps: zflib's three Fig. 7 maps against captum's ``Occlusion`` for one map.

Same model (ZFNet-64, 56-pixel input), same image, square, stride and grey baseline. zflib
computes panels (b) total layer-5 activation, (d) P(true class) and (e) most probable class in
one batched pass; captum computes (d) alone, at its default ``perturbations_per_eval=1`` and at
the best value of a sweep. Each timing is the best of ``--repeats`` interleaved runs, in CPU
seconds of this process on the CPU (the machine may be shared), wall seconds on a GPU.

    python benchmarks/bench_occlusion.py [--size 12] [--stride 4] [--threads 1] [--device cpu]

Writes ``benchmarks/results/bench_occlusion.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _args import check
from captum.attr import Occlusion

from zflib.models import build_model
from zflib.occlusion import occlusion_maps, pixel_attribution, window_starts
from zflib.train import machine_name

OUT = Path(__file__).resolve().parent / "results" / "bench_occlusion.json"


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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=12)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    check(ap, args, "size", "stride", "threads", "repeats", out=args.out, device=args.device)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval().to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 56, 56, generator=g).to(device)
    grey = (0.1 * torch.randn(3, 56, 56, generator=g)).to(device)  # a mean-pixel-like baseline
    target = 7
    n_pos = len(window_starts(56, args.size, args.stride)) ** 2
    occ = Occlusion(lambda z: torch.softmax(model(z), 1))

    def ours():
        return occlusion_maps(model, x, target, size=args.size, stride=args.stride,
                              baseline=grey)

    def captum(ppe: int):
        with torch.no_grad():
            return occ.attribute(x[None], sliding_window_shapes=(3, args.size, args.size),
                                 strides=(3, args.stride, args.stride), baselines=grey[None],
                                 target=target, perturbations_per_eval=ppe)

    maps, ref = ours(), captum(64)  # warm-up, and the check that both compute the same
    diff = (pixel_attribution(maps.prob.cpu(), maps.clean_prob, size=args.size,
                              stride=args.stride, shape=(56, 56)) - ref[0, 0].cpu()).abs().max()
    sweep = sorted({1, 8, 16, 32, 64, 128, n_pos})
    times: dict[str, list[float]] = {"zflib": []} | {f"ppe{p}": [] for p in sweep}
    for _ in range(args.repeats):
        times["zflib"].append(_time(ours, device))
        for p in sweep:
            times[f"ppe{p}"].append(_time(lambda p=p: captum(p), device))
    best = {k: min(v) for k, v in times.items()}
    best_ppe = min(sweep, key=lambda p: best[f"ppe{p}"])
    name = machine_name(device)
    result = {
        "machine": f"{name}; timed in "
                   + ("process CPU time" if device.type == "cpu" else "wall time"),
        "threads": args.threads,
        "size": args.size,
        "stride": args.stride,
        "positions": n_pos,
        "zflib_three_maps_s": best["zflib"],
        "captum_default_s": best["ppe1"],
        "captum_best_s": best[f"ppe{best_ppe}"],
        "captum_best_perturbations_per_eval": best_ppe,
        "speedup_vs_captum_default": best["ppe1"] / best["zflib"],
        "speedup_vs_captum_best": best[f"ppe{best_ppe}"] / best["zflib"],
        "max_abs_diff_vs_captum": float(diff),
    } | {f"captum_ppe{p}_s": best[f"ppe{p}"] for p in sweep}
    print(f"{name}; {n_pos} positions of a {args.size}px square, stride {args.stride}")
    print(f"zflib, three maps:            {best['zflib'] * 1e3:8.1f} ms")
    print(f"captum, one map, default ppe: {best['ppe1'] * 1e3:8.1f} ms  "
          f"-> zflib {result['speedup_vs_captum_default']:.2f}x faster")
    print(f"captum, one map, best ppe={best_ppe:<3d}: {best[f'ppe{best_ppe}'] * 1e3:6.1f} ms  "
          f"-> zflib {result['speedup_vs_captum_best']:.2f}x faster")
    print(f"max |difference| of P(true) attribution vs captum: {float(diff):.2e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
