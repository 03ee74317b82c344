"""The explorer's latency: what one slider move costs, compute and drawing, on the CPU.

Issue goal: each update answers in under a second on a CPU for the 64-pixel models. The app
is the one ``make explore`` serves (:func:`zflib.apps.explorer.app`, the committed ZFNet-64, top-9
mined over ``--images`` validation images, cached after the first start). Each workload moves
one widget to a value not seen before (so no cached view is reused) ``--repeats`` times and
takes the median of :attr:`ExplorerApp.seconds` (the update's wall time, drawing included):

- ``update_map_s``: a new feature map of conv5;
- ``update_layer_s``: a new layer (1..5 in turn, each with a new map);
- ``update_image_s``: a new validation image (conv5);

each with the occlusion map on (the default) and off (``*_no_occlusion_s``). The same for a
224-pixel model (``--model-224``, torchvision's AlexNet by default, randomly initialised, top-9
over ``--images-224`` images; keys ``alexnet224_*``), with the explorer's grid for 224 pixels
(``default_occluder(224)``: a 48-pixel square every 32 pixels, 7 x 7 positions); goal: its
slowest update with the occlusion map on <= 1 s. The baseline, in
the same process: ``forward_s``, one bare forward pass of the whole network on one image
(``model(x)`` under ``no_grad``), and ``update_map_vs_forward``, how many such passes an update
costs. ``slowest_update_s`` is the worst single update of all; ``start_s`` the app's start.

    python benchmarks/bench_explorer.py [--images 2000] [--repeats 8] [--threads 1]
        [--model-224 alexnet|vgg16|none] [--images-224 200]

Writes ``benchmarks/results/bench_explorer.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _args import check

from zflib.apps.explorer import app
from zflib.training.train import machine_name

OUT = Path(__file__).resolve().parent / "results" / "bench_explorer.json"


def _updates(ui, repeats: int, res: dict, tag: str) -> list[float]:
    """Time the three workloads with the occlusion map on and off; medians into ``res``
    (keys prefixed by ``tag``); return every update's time."""
    ex = ui.explorer
    n_img = len(ex.inputs)
    every: list[float] = []
    step = 0

    def fresh(n: int) -> int:  # values that do not repeat within a run
        nonlocal step
        step += 1
        return (37 * step) % n

    for occl in (True, False):
        ui.occl_w.value = occl
        ui.layer_w.value = 5
        times: dict[str, list[float]] = {"map": [], "layer": [], "image": []}
        for _ in range(repeats):
            ui.map_w.value = fresh(ex.channels(5))
            times["map"].append(ui.seconds)
        for r in range(repeats):
            ui.image_w.value = fresh(n_img)  # a new image, so no view is cached
            ui.layer_w.value = 1 + r % 5  # 1, 2, 3, 4, 5, 1, ...: each differs from the last
            times["layer"].append(ui.seconds)
        ui.layer_w.value = 5
        for _ in range(repeats):
            ui.image_w.value = fresh(n_img)
            times["image"].append(ui.seconds)
        tail = "" if occl else "_no_occlusion"
        for kind, ts in times.items():
            res[f"{tag}update_{kind}{tail}_s"] = round(statistics.median(ts), 3)
            every += ts
    return every


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000, help="validation images mined")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model-224", default="alexnet", choices=["alexnet", "vgg16", "none"],
                    help="torchvision model timed at 224 pixels too (random init)")
    ap.add_argument("--images-224", type=int, default=200, help="images mined at 224 pixels")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    check(ap, args, "images", "repeats", "threads", "images_224", out=args.out)
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    ui = app("quick", mine_images=args.images)
    start = time.perf_counter() - t
    ex = ui.explorer
    res: dict[str, float | str] = {"machine": machine_name(torch.device("cpu")),
                                   "threads": args.threads, "images_mined": args.images,
                                   "start_s": round(start, 2)}
    every = _updates(ui, args.repeats, res, "")
    model, x = ex.model, ex.inputs[:1]
    with torch.no_grad():
        model(x)
        fwd = []
        for _ in range(20):
            t = time.perf_counter()
            model(x)
            fwd.append(time.perf_counter() - t)
    res["forward_s"] = round(statistics.median(fwd), 4)
    res["update_map_vs_forward"] = round(float(res["update_map_s"]) / res["forward_s"], 1)
    res["slowest_update_s"] = round(max(every), 3)
    if args.model_224 != "none":
        ui = app("quick", torchvision={args.model_224: None}, mine_images=args.images_224)
        ui.model_w.value = f"{args.model_224} (random init)"
        size, stride = ui.explorer.subject.occluder
        tag = f"{args.model_224}224_"
        res |= {f"{tag}images_mined": args.images_224, f"{tag}occluder_size": size,
                f"{tag}occluder_stride": stride}
        res[f"{tag}slowest_update_s"] = round(max(_updates(ui, args.repeats, res, tag)), 3)
    print(f"{res['machine']}; top-9 over {args.images} images; medians of {args.repeats}")
    for kind in ("map", "layer", "image"):
        print(f"new {kind:5s}: {res[f'update_{kind}_s']:.2f} s with the occlusion map, "
              f"{res[f'update_{kind}_no_occlusion_s']:.2f} s without")
    print(f"slowest update {res['slowest_update_s']:.2f} s; one forward pass "
          f"{1000 * res['forward_s']:.1f} ms (an update costs {res['update_map_vs_forward']}); "
          f"start {start:.1f} s")
    if args.model_224 != "none":
        tag = f"{args.model_224}224_"
        print(f"{args.model_224} at 224 pixels (random init), occluder "
              f"{res[f'{tag}occluder_size']} px every {res[f'{tag}occluder_stride']} px, top-9 "
              f"over {args.images_224} images:")
        for kind in ("map", "layer", "image"):
            print(f"new {kind:5s}: {res[f'{tag}update_{kind}_s']:.2f} s with the occlusion map, "
                  f"{res[f'{tag}update_{kind}_no_occlusion_s']:.2f} s without")
        print(f"slowest update {res[f'{tag}slowest_update_s']:.2f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
