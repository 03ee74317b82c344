"""Unit atlas: a static, linkable site with a page for every feature map of a model.

For any model :mod:`zflib.apps.mine` loads (a committed artifact or one exported from your own run,
torchvision's models with a local weights file) and any images (a Tiny ImageNet split, the
full-resolution ImageNet examples of the model's classes, ``--images examples``, or a folder of
your own), the atlas mines the top-k of every map of the chosen layers in one
streaming pass (:func:`zflib.methods.topk.cached_mine_topk`: cached, so a second build mines
nothing), projects them with the deconvnet in batches (:func:`zflib.apps.mine.project`), and writes
a folder that opens from disk with no server and no network::

    python -m zflib.apps.atlas --model zfnet64 --split val --out atlas/
    python -m zflib.apps.atlas --model zfnet224 --images examples --out atlas224/
    python -m zflib.apps.atlas --torchvision vgg16 --weights vgg16-397923af.pth --folder photos/
    torchrun --nproc_per_node=2 -m zflib.apps.atlas --model zfnet64 --out atlas/

``atlas/index.html`` describes the model and its layers; ``atlas/<layer>/index.html`` shows
every map as a thumbnail of its strongest projection (ordered by index or by activation
strength); ``atlas/<layer>/map-0142.html`` one map's top-9 projections beside their patches,
large, with the receptive field, the classes of its top images and previous / next links.
Pages and pictures are made by :mod:`zflib.viz.atlas`.

Under ``torchrun`` the mining is sharded as in :mod:`zflib.apps.mine` (each rank its share of the
batches, results merged) and so are the projections (each rank a share of the maps); rank 0
writes the index and layer pages.

The folder is written safely: ``atlas.json`` marks it as an atlas (a rebuild may overwrite
it; a folder holding anything else is refused before any work), every file goes to a
temporary name and is renamed into place, a lock keeps two builds out of one folder, and a
rebuild removes only files its previous build listed.

Paper: Sec. 4, Fig. 2 (the top 9 activations of a map across the validation data, projected).

Note: the paper shows 16 random maps per layer; the atlas shows every map of every layer.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from zflib import distributed
from zflib.apps import mine
from zflib.data.common import tensor_digest
from zflib.distributed import device_error, launched
from zflib.methods import deconv, topk
from zflib.methods.deconv_steps import RULES, check_rule
from zflib.methods.receptive import receptive_field
from zflib.methods.subject import Subject, torchvision_names
from zflib.progress import bar
from zflib.training.train import default_device
from zflib.viz import atlas as pages

MARKER = "atlas.json"
FORMAT = "zflib-atlas/1"
LOCK = ".atlas.lock"
PROJECTION_BYTES = 256 * 2 ** 20  # deconvnet projections held at once (maps done in chunks)


# ----------------------------------------------------------------------------- the folder


def check_out(out: str | Path) -> dict | None:
    """Whether ``out`` may receive an atlas: absent, an empty folder, or a previous atlas
    (its ``atlas.json``, returned). Anything else is a ``ValueError`` naming what is there;
    nothing is written."""
    out = Path(out)
    if not out.exists():
        return None
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; give a new or empty folder, "
                         "or a previous atlas")
    marker = out / MARKER
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            saved = None
        if isinstance(saved, dict) and saved.get("format") == FORMAT and \
                isinstance(saved.get("files"), list):
            return saved
        raise ValueError(f"{marker} was not written by zflib.apps.atlas; {out} is refused (give a "
                         "new or empty folder, or a previous atlas)")
    other = sorted(p.name for p in out.iterdir() if p.name != LOCK)
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        raise ValueError(f"--out {out} holds other files ({shown}) and no {MARKER}; the atlas "
                         "writes only into a new or empty folder, or over a previous atlas")
    return None


def _inside(rel: str) -> bool:
    """A relative path that stays inside the folder (what a marker may list)."""
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts


class Site:
    """The output folder while an atlas is written (rank 0 opens it; other ranks only
    :meth:`write`). Files are written under a temporary name and renamed into place."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    def write(self, rel: str, data: bytes | str) -> int:
        """Write ``out/rel`` atomically; returns its size in bytes."""
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
        return path.stat().st_size

    def write_marker(self, record: dict) -> None:
        self.write(MARKER, json.dumps(record, indent=1) + "\n")

    @contextlib.contextmanager
    def claimed(self, planned: Sequence[str], record: dict) -> Iterator[list[str]]:
        """Check and lock the folder for this build; yields the files the previous build
        listed. On entry the marker lists those and ``planned`` (so that an interrupted
        build is still known as the atlas's); the caller writes the final marker."""
        old = check_out(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        lock = open(self.out / LOCK, "w")  # noqa: SIM115 (held for the whole build)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(f"another atlas build is writing to {self.out}; wait for it "
                                 "or choose another --out") from None
            old = check_out(self.out)  # again, now that no other build can change it
            previous = [f for f in (old or {}).get("files", []) if _inside(f)]
            self._remove_temporaries(previous + list(planned))
            self.write_marker({**record, "complete": False,
                               "files": sorted(set(previous) | set(planned))})
            yield previous
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    def _remove_temporaries(self, files: Sequence[str]) -> None:
        """Temporary files of a killed build (``.<name>.tmp<pid>`` beside an atlas file)."""
        names = {Path(f).name for f in files} | {MARKER}
        for folder in {(self.out / f).parent for f in files} | {self.out}:
            for p in folder.glob(".*.tmp*") if folder.is_dir() else ():
                m = re.fullmatch(r"\.(.+)\.tmp\d+", p.name)
                if m and m.group(1) in names and p.is_file():
                    p.unlink()

    def remove(self, files: Sequence[str]) -> None:
        """Delete these atlas files (a previous build's that this one did not write), then
        any folder they leave empty."""
        folders = set()
        for rel in files:
            path = self.out / rel
            if _inside(rel) and path.is_file():
                path.unlink()
                folders.add(path.parent)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if folder != self.out and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


# ----------------------------------------------------------------------------- the model


def model_card(sub: Subject, *, model: str = "", epoch: int | None = None,
               torchvision: str = "", weights: str | None = None) -> pages.ModelCard:
    """What the index says about ``sub``: its architecture, where its weights come from and
    its validation accuracy when known (a committed artifact's ``results.json``; torchvision's
    published figure when the weights file is the one torchvision publishes)."""
    net = sub.model
    features = _printed(net)
    if hasattr(net, "describe"):
        d = net.describe()
        arch = (f"{d['arch']}, {d['num_classes']} classes"
                + (f", ablation {d['ablation']}" if d.get("ablation") else ""))
    else:
        arch = getattr(net, "arch", type(net).__name__)
    if torchvision:
        return pages.ModelCard(sub.name, f"torchvision {arch}", *_torchvision_weights(
            torchvision, weights), sub.preprocess.crop, features)
    from zflib.config import repo_relative
    from zflib.training.artifacts import artifacts_dir, load_results

    folder = artifacts_dir() / model
    files = [f for f in ("model.pt", "conv.pt") if (folder / f).exists()][:1]
    where = f"artifact {repo_relative(folder / files[0] if files else folder)}"
    if epoch is not None:
        where += f", conv layers at epoch {epoch}"
    try:
        res = load_results(model)
    except (FileNotFoundError, ValueError):
        res = {}
    accuracy = None
    if "val_top1_err_10crop" in res:
        accuracy = (f"{100 * (1 - res['val_top1_err_10crop']):.1f}% top-1, "
                    f"{100 * (1 - res.get('val_top5_err_10crop', 1)):.1f}% top-5 on "
                    f"{res.get('val_images', '?')} validation images (10 crops"
                    + (", final epoch" if epoch is not None else "") + ")")
    return pages.ModelCard(sub.name, arch, where, accuracy, sub.preprocess.crop, features)


def _printed(model: torch.nn.Module, limit: int = 20000) -> str:
    """The model's feature layers as PyTorch prints them (the whole model when it is no
    chain, e.g. a ResNet), cut at ``limit`` characters."""
    try:
        text = repr(deconv.features_of(model))
    except ValueError:
        text = repr(model)
    return text if len(text) <= limit else text[:limit] + "\n..."


def _torchvision_weights(arch: str, weights: str | None) -> tuple[str, str | None]:
    """(where the weights come from, accuracy): torchvision's published ImageNet top-1 when
    the file's SHA-256 starts with the hash in one of its published file names."""
    if not weights:
        return "random initialisation (no weights file)", None
    import torchvision

    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(2 ** 20), b""):
            h.update(block)
    digest = h.hexdigest()
    where = f"{weights} (sha256 {digest[:12]})"
    try:
        enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        return where, None
    for w in enum:
        m = re.search(r"-([0-9a-f]{8,})\.pth$", w.url)
        acc = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
        if m and digest.startswith(m.group(1)) and "acc@1" in acc:
            return (f"{where}, torchvision's {w}",
                    f"{acc['acc@1']:.1f}% top-1, {acc.get('acc@5', float('nan')):.1f}% top-5 on "
                    "ImageNet-1K validation (torchvision's figures for these weights)")
    return where, None


def split_classes(names: Sequence[str]) -> tuple[list[str], list[str | None]]:
    """``zflib.apps.mine.images_of``'s names (``"val/images/val_0.JPEG (go-kart)"`` for a split,
    plain file names for a folder) as (image names, classes or None)."""
    out, classes = [], []
    for n in names:
        m = re.fullmatch(r"(.+) \(([^()]+)\)", n)
        out.append(m.group(1) if m else n)
        classes.append(m.group(2) if m else None)
    return out, classes


# ----------------------------------------------------------------------------- the build


@dataclass
class Report:
    """What a build did: counts, seconds per phase (this process; mining includes the
    network's forward passes, encoding the pictures, pages the HTML and writing), bytes."""

    maps: int
    images: int
    mining_cached: bool
    seconds: dict[str, float]
    files: int
    bytes: int


def _chunks(model: torch.nn.Module, layers: Sequence[str], channels: dict[str, int], k: int,
            size: int) -> list[tuple[str, torch.Tensor]]:
    """(layer, maps) blocks of at most PROJECTION_BYTES of projections each, in order."""
    per_map = k * 3 * size * size * 4 * 2  # the full-size projections and their copy
    n = max(1, PROJECTION_BYTES // per_map)
    return [(la, torch.arange(s, min(s + n, channels[la]))) for la in layers
            for s in range(0, channels[la], n)]


def _neighbours(order: list[tuple[pages.LayerCard, int]], i: int, image_format: str) -> tuple:
    """Previous and next map (across layers) as links from map ``order[i]``'s page."""
    here = order[i][0]

    def link(j: int) -> pages.Link | None:
        if not 0 <= j < len(order):
            return None
        la, m = order[j]
        href = pages.map_files(la, m, image_format)["page"]
        href = href.split("/", 1)[1] if la.folder == here.folder else f"../{href}"
        return pages.Link(href, f"{la.name} map {m}" if la.folder != here.folder else f"map {m}")

    return link(i - 1), link(i + 1)


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _agree(world: int, error: Exception | None) -> None:
    """Raise on every rank if rank 0 failed (other ranks would wait for it for ever)."""
    if world > 1:
        box = [repr(error) if error is not None else None]
        torch.distributed.broadcast_object_list(box, src=0)
        if box[0] is not None and error is None:
            raise RuntimeError(f"rank 0 failed: {box[0]}")
    if error is not None:
        raise error


def build(sub: Subject, images: torch.Tensor, out: str | Path, *,
          names: Sequence[str] | None = None, classes: Sequence[str | None] | None = None,
          layers: Sequence[str | int] | None = None, k: int = 9, batch_size: int = 128,
          cache_dir: str | Path | None = None, card: pages.ModelCard | None = None,
          source: str = "your images", image_format: str = "webp", quality: int = 85,
          rule: str = "deconvnet", progress: bool = True) -> Report:
    """Write the atlas of ``sub`` over ``images`` into ``out``.

    Args:
        sub: the model (:func:`zflib.apps.mine.subject`).
        images: uint8 [N, H, W, 3] (:func:`zflib.apps.mine.images_of`).
        out: the site's folder: new, empty or a previous atlas (else ``ValueError``).
        names, classes: each image's name and class (None: unknown) for the map pages.
        layers: the layers shown (default :func:`zflib.apps.mine.default_layers`: ``conv1``..
            ``conv5`` of a chain, the stages of another model).
        k: top activations per map (paper: 9).
        cache_dir: the mining cache (default :func:`zflib.methods.topk.mining_cache`).
        card: what the index says about the model (default: its name only).
        image_format: ``webp``, ``jpeg`` or ``png``; ``quality`` for the lossy ones.
        rule: the projections' backward rule, ``deconvnet`` (default), ``guided`` or
            ``gradient`` (:func:`zflib.methods.deconv.project`).
        progress: bars (rank 0's) over the mining's batches and over the maps projected and
            paged (:func:`zflib.progress.bar`).

    Returns:
        :class:`Report` (this process's share under ``torchrun``).

    Paper: Sec. 4, Fig. 2.
    """
    rank, world = distributed.shard()
    model = sub.model
    layers = deconv.resolve_layers(model, mine.default_layers(model) if layers is None
                                   else layers)
    if not layers:
        raise ValueError("layers is empty; give some of " + ", ".join(deconv.layer_names(model)))
    if image_format not in pages.FORMATS:
        raise ValueError(f"image format {image_format!r} not valid; valid: "
                         f"{', '.join(pages.FORMATS)}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality {quality} out of range 1..100")
    check_rule(rule, None)
    if len(images) == 0:
        raise ValueError("no images; give at least one uint8 [H, W, 3] image")
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    classes = list(classes) if classes is not None else [None] * len(images)
    if len(names) != len(images) or len(classes) != len(images):
        raise ValueError(f"{len(names)} names and {len(classes)} classes for {len(images)} "
                         "images; want one each")
    check_out(out)  # before any work, on every rank
    card = card or pages.ModelCard(sub.name, type(model).__name__, "not stated", None,
                                   sub.preprocess.crop, _printed(model))
    card = dataclasses.replace(card, rule=rule)  # the pages name the rule
    every = topk.choose_maps(model, layers, n=2 ** 31)  # n above any width: all maps
    cards = []
    for la in layers:
        folder = pages.layer_folder(la)
        while folder in {c.folder for c in cards}:
            folder += "_"
        cards.append(pages.LayerCard(la, folder, len(every[la]),
                                     receptive_field(model, la)))
    order = [(c, m) for c in cards for m in range(c.maps)]
    planned = ["index.html", "style.css"] + [f"{c.folder}/index.html" for c in cards] + [
        f for c, m in order for f in pages.map_files(c, m, image_format).values()]
    record = {"format": FORMAT, "model": dataclasses.asdict(card), "source": source,
              "images": len(images), "k": k, "layers": [c.name for c in cards],
              "image_format": image_format, "rule": rule}
    site = Site(out)
    seconds = dict.fromkeys(("mining", "projection", "encoding", "pages"), 0.0)
    written = 0
    with contextlib.ExitStack() as stack:
        error = None
        if rank == 0:
            try:
                previous = stack.enter_context(site.claimed(planned, record))
            except (ValueError, OSError) as err:
                error = err
        _agree(world, error)

        # 1. mining: one pass over the images (each rank its share), or the cache
        t = time.perf_counter()
        _barrier(world)  # every rank sees the same cache
        top, _, cached = topk.cached_mine_topk(
            model, mine.batches(sub.preprocess, images, batch_size, shard=(rank, world)),
            cache_dir=topk.mining_cache() if cache_dir is None else cache_dir, layers=layers,
            k=k, batch_size=batch_size, images=tensor_digest(images), name=sub.name,
            progress=progress)
        seconds["mining"] = time.perf_counter() - t

        # 2. this rank's maps, projected in blocks, then drawn and paged
        rank_of = {c.name: torch.argsort(torch.argsort(-top[c.name].values[:, 0], stable=True))
                   for c in cards}
        place = {(c.name, m): i for i, (c, m) in enumerate(order)}
        by_name = {c.name: c for c in cards}
        chunks = [(la, maps) for j, (la, maps) in enumerate(_chunks(
            model, layers, {c.name: c.maps for c in cards}, k, sub.preprocess.crop))
            if j % world == rank]
        done = bar(total=sum(len(m) for _, m in chunks), unit="map",
                   progress=progress and rank == 0, desc="maps")
        for la, maps in chunks:
            t = time.perf_counter()
            done.set_description(f"{la}: projecting")
            tp = mine.project(sub, images, top, {la: maps}, rule=rule, progress=False)[la]
            seconds["projection"] += time.perf_counter() - t
            done.set_description(f"{la}: pages")
            c = by_name[la]
            for i, m in enumerate(maps.tolist()):
                t = time.perf_counter()
                files = pages.map_files(c, m, image_format)
                sheet = pages.sheet_image(tp.projections[i], tp.patches[i],
                                          image_format=image_format, quality=quality)
                thumb = pages.thumbnail(tp.projections[i, 0], image_format=image_format,
                                        quality=quality)
                seconds["encoding"] += time.perf_counter() - t
                t = time.perf_counter()
                sel = tp.top
                imgs = sel.images[i].tolist()
                prev, nxt = _neighbours(order, place[(la, m)], image_format)
                card_m = pages.MapCard(
                    c, m, int(rank_of[la][m]) + 1, sel.values[i].tolist(), imgs,
                    [names[g] if g >= 0 else "" for g in imgs],
                    [classes[g] if g >= 0 else None for g in imgs],
                    sel.ys[i].tolist(), sel.xs[i].tolist(), prev, nxt)
                written += site.write(files["sheet"], sheet) + site.write(files["thumb"], thumb)
                written += site.write(files["page"], pages.map_page(card, card_m,
                                                                    image_format=image_format))
                seconds["pages"] += time.perf_counter() - t
                done.update(1)
        done.close()

        # 3. rank 0: the index and layer pages, then the final marker
        t = time.perf_counter()
        if rank == 0:
            written += site.write("style.css", pages.STYLE)
            written += site.write("index.html", pages.index_page(
                card, cards, source=source, images=len(images), k=k))
            for c in cards:
                strengths = top[c.name].values[:, 0].tolist()
                written += site.write(f"{c.folder}/index.html", pages.layer_page(
                    card, c, strengths, image_format=image_format))
        seconds["pages"] += time.perf_counter() - t
        _barrier(world)
        if rank == 0:
            seconds = {n: round(s, 3) for n, s in seconds.items()}
            site.write_marker({**record, "complete": True, "mining_cached": cached,
                               "ranks": world, "seconds_rank0": seconds,
                               "files": sorted(planned)})
            site.remove(sorted(set(previous) - set(planned)))
    return Report(len(order), len(images), cached, seconds, len(planned) if rank == 0 else 0,
                  written)


def folder_bytes(out: str | Path) -> tuple[int, int]:
    """(files, bytes) under ``out``: what the site weighs on disk, apparent sizes."""
    sizes = [p.stat().st_size for p in Path(out).rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.apps.atlas",
                                description=__doc__.split("\n")[0])
    p.add_argument("--model", default="zfnet64",
                   help="a committed or exported artifact "
                        "(zflib.training.artifacts, $ZF_ARTIFACTS)")
    p.add_argument("--epoch", type=int, default=None, help="that artifact's conv layers at "
                   "this saved epoch")
    p.add_argument("--torchvision", default="", metavar="NAME",
                   help="a torchvision classification model instead (alexnet, vgg16, resnet18, "
                        "...), with --weights")
    p.add_argument("--weights", default=None, help="its state_dict file (none: random init)")
    p.add_argument("--split", default="val", choices=["val", "train"],
                   help="the Tiny ImageNet split to mine (default: val)")
    p.add_argument("--images", default="split", choices=["split", "examples"],
                   help="split: the Tiny ImageNet split of --split (default); examples: one "
                        "full-resolution ImageNet image of each of the model's classes (python "
                        "-m zflib.data install imagenet-examples)")
    p.add_argument("--folder", default=None, help="a folder of your images instead of a split")
    p.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    p.add_argument("--layers", nargs="+", default=None,
                   help="layers to show, conv1.. or module names (default: conv1-conv5 of a "
                        "chain, the stages of another model)")
    p.add_argument("--k", type=int, default=9, help="top activations per map (paper: 9)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")
    p.add_argument("--out", default="atlas", help="the site's folder (new, empty or an atlas)")
    p.add_argument("--format", default="webp", choices=list(pages.FORMATS),
                   help="picture format (default: webp)")
    p.add_argument("--quality", type=int, default=85, help="webp / jpeg quality, 1..100")
    p.add_argument("--cache-dir", default=None,
                   help="the mining cache (default: $ZF_HOME/cache/topk)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU if present)")
    p.add_argument("--rule", default="deconvnet", choices=list(RULES),
                   help="the projections' backward rule at a ReLU (default: deconvnet)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (by default mining, projection and page writing "
                        "show theirs on stderr)")
    args = p.parse_args(argv)
    if args.device and (bad := device_error(args.device)):
        p.error(bad)
    for flag, value, low, high in (("--k", args.k, 1, None), ("--limit", args.limit, 0, None),
                                   ("--batch-size", args.batch_size, 1, None),
                                   ("--quality", args.quality, 1, 100)):
        if value < low or (high is not None and value > high):
            p.error(f"{flag} {value} out of range {low}..{high or ''}")
    if args.folder and args.images == "examples":
        p.error("--images examples and --folder are two image sources; give one")
    if args.weights and not args.torchvision:
        p.error("--weights goes with --torchvision; an artifact (--model) has its own weights")
    if args.torchvision and args.epoch is not None:
        p.error("--epoch is for artifacts (--model), not --torchvision")
    if args.torchvision and args.torchvision not in torchvision_names():
        p.error(f"--torchvision {args.torchvision!r} is not a torchvision classification "
                "model; valid: " + ", ".join(torchvision_names()))
    try:
        check_out(args.out)
        return _main(args)
    except (ValueError, FileNotFoundError) as err:  # a wrong model, path, layer or --out
        p.exit(2, f"{p.prog}: error: {err}\n")


def _main(args: argparse.Namespace) -> int:
    with launched(args.device) as device:
        device = device or str(default_device())
        sub = mine.subject(args.model, epoch=args.epoch, torchvision=args.torchvision,
                           weights=args.weights, device=device)
        if args.layers is not None:
            deconv.resolve_layers(sub.model, args.layers)  # an unknown layer: before the images
        images, labels = mine.images_of(sub, split=args.split, folder=args.folder,
                                        limit=args.limit, examples=args.images == "examples")
        names, classes = split_classes(labels)
        card = model_card(sub, model=args.model, epoch=args.epoch, torchvision=args.torchvision,
                          weights=args.weights)
        source = (f"the folder {args.folder}" if args.folder else
                  "full-resolution ImageNet examples, one per class" if args.images == "examples"
                  else
                  f"the {'validation' if args.split == 'val' else 'training'} split of "
                  f"{getattr(sub.data_cfg, 'dataset', 'tiny-imagenet')}")
        t, cpu = time.perf_counter(), time.process_time()
        rep = build(sub, images, args.out, names=names, classes=classes, layers=args.layers,
                    k=args.k, batch_size=args.batch_size, cache_dir=args.cache_dir, card=card,
                    source=source, image_format=args.format, quality=args.quality,
                    rule=args.rule, progress=not args.quiet)
        if distributed.shard()[0] == 0:
            files, size = folder_bytes(args.out)
            print(json.dumps({"out": str(Path(args.out) / "index.html"), "maps": rep.maps,
                              "images": rep.images, "mining_cached": rep.mining_cached,
                              "seconds": round(time.perf_counter() - t, 2),
                              "cpu_seconds": round(time.process_time() - cpu, 2),
                              "phases_s": rep.seconds, "files": files,
                              "megabytes": round(size / 1e6, 2)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
