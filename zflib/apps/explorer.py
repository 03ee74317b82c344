"""The interactive explorer: one model, one layer, one feature map, one image, every view.

For the chosen model, layer (``conv1``..), feature map and image (a validation image or your
own file) the explorer shows the input, the layer's activations, the top-9 activations of the
map over a set of validation images projected to pixels beside their image patches (Fig. 2),
the deconvnet projection of the map's strongest activation in the chosen image (Sec. 2.1), and
an occlusion map (Fig. 7): the map's total activation and the probability of the image's class
as a grey square slides over the image.

Three layers, kept apart:

- :class:`Subject`: a model and how images become its inputs (:func:`zf_subject` for the
  committed artifacts, :data:`ARTIFACTS`: ZFNet-64 / AlexNet-64, ZFNet-224 / AlexNet-224, and
  the epoch snapshots, :func:`torchvision_subject`
  for any torchvision classification model with pretrained weights from a local file).
- :class:`Explorer`: the compute for one subject and one image set, through
  :mod:`zflib.deconv`, :mod:`zflib.topk` and :mod:`zflib.occlusion`. The top-9 mining runs once
  per model and image set and is cached on disk under ``zflib.topk.mining_cache()``; traces,
  projections and occlusion maps are cached in memory, so moving a slider recomputes only what
  changed. :meth:`Explorer.view` returns a :class:`View` (tensors only); plotting is
  :mod:`zflib.viz.explorer`.
- :class:`ExplorerApp` (built by :func:`app`): the ipywidgets front end (dropdowns, sliders, a
  file upload, one PNG), used by ``notebooks/00_explorer.ipynb`` and ``make explore`` (Voila).

Any torchvision classification model (AlexNet and VGG, with or without batch norm, on the
deconvnet's fast path; ResNet, DenseNet and the others on :mod:`zflib.deconv_general`, their
stages as layers, occlusion by plain re-inference). With the ImageNet weights in a local file
(for example ``alexnet-owt-7be5be79.pth`` or ``resnet18-f37072fd.pth`` as torchvision saves
them under ``~/.cache/torch/hub/checkpoints``; nothing is downloaded)::

    from zflib.explorer import app
    ui = app("quick", torchvision={"vgg16": "/path/to/vgg16-397923af.pth"})
    ui.widget  # the model dropdown now lists "vgg16"

or, without widgets, ``Explorer(torchvision_subject("alexnet", "/path/to/alexnet.pth"),
images).view("conv5", 12, 0)``. Images are resized (shorter side 256), centre-cropped to 224
(each model's own recipe: 342 and 299 for Inception v3) and normalised with ImageNet's mean
and standard deviation (torchvision's recipe); the occluder is the mean pixel (zero after
normalisation). Without weights (``None``) the model is randomly initialised (what the tests
use) and its classifier is not shown.

Latency (``benchmarks/bench_explorer.py``, results in ``benchmarks/results/bench_explorer.json``;
ZFNet-64, 2,000 mined images, one thread of a quiet 2-core x86 server, medians of 8 updates,
compute and drawing): a new conv5 map 0.24 s (0.12 s with the occlusion map off), a new layer
0.22 s (0.08 s), a new image 0.21 s (0.10 s); the slowest single update 0.39 s. On a machine
loaded by other jobs these roughly triple. Starting the app with the mining cached takes about
2 s; the first mining of 2,000 images about 15 s.

Paper: Sec. 2.1 (deconvnet), Sec. 4 and Fig. 2 (top-9), Sec. 4.2 and Fig. 7 (occlusion).

Note: the paper has no explorer; it shows fixed selections. The choices of map, layer and image
are the user's; the occluder defaults to a square of 3/14 of the input side moved by half its
side (12 and 6 pixels at 56), coarser than Fig. 7's notebook so that an update stays
interactive.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zflib import deconv, occlusion, topk
from zflib.checkpoint import read_file
from zflib.config import Config, get_config
from zflib.data.folder import folder_images
from zflib.receptive import ReceptiveField, receptive_field

TORCHVISION = ("alexnet", "vgg16")  # the chains the explorer was first written for
# weights files whose keys identify a model, for the hint of a file given for the wrong one
_HINTS = ("alexnet", "vgg11", "vgg16", "vgg16_bn", "resnet18", "resnet50", "densenet121")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class Preprocess:
    """uint8 images -> network inputs: resize (shorter side ``stored``, centre square), then
    ``(x - mean) * scale`` on the 0..255 scale, then the centre ``crop``.

    ``mean`` is a mean image [3, stored, stored] (the paper's, Sec. 3) or a mean pixel
    [3, 1, 1]; ``scale`` a number or per-channel [3, 1, 1] (torchvision: 1 / (255 std)).
    """

    mean: torch.Tensor
    scale: float | torch.Tensor
    stored: int
    crop: int

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] -> float [N, 3, stored, stored] (bilinear, antialiased)."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} "
                             f"{tuple(images.shape)}")
        x = images.permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        if (h, w) == (self.stored, self.stored):
            return x
        s = self.stored / min(h, w)
        nh, nw = max(self.stored, round(h * s)), max(self.stored, round(w * s))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False,
                          antialias=True).clamp(0, 255)
        return _center(x, self.stored)

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] -> float32 network inputs [N, 3, crop, crop]."""
        x = self.resize(images)
        return _center((x - self.mean) * self.scale, self.crop)

    def display(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] -> what the network sees, for display: [N, 3, crop, crop] 0..1."""
        return _center(self.resize(images), self.crop) / 255


def _center(x: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} out of range 1..{min(h, w)}")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top:top + crop, left:left + crop].contiguous()


@dataclass(frozen=True)
class Subject:
    """A model the explorer can show and how images reach it.

    Attributes:
        name: shown in the model dropdown.
        model: eval mode; ``features`` of Conv2d / ReLU / MaxPool2d / LRN (what
            :mod:`zflib.deconv` accepts), ``classifier`` after ``flatten``, ``num_classes``,
            ``feature_names`` (what :func:`zflib.occlusion.occlusion_maps` needs).
        preprocess: images -> inputs.
        baseline: the occluder's value in input space (a tensor [3, S, S] or a number).
        class_names: names of the outputs; ``None`` when the classifier is not trained (conv
            layers only, or an epoch snapshot whose classifier is the final one).
        occluder: (size, stride) of the grey square in input pixels.
        mine_images: validation images to mine for the top-9 (0: the app's default).
        data_cfg: the config of the data the model was trained on (its validation split is
            what the app explores), or ``None`` (torchvision: Tiny ImageNet's, resized).
    """

    name: str
    model: nn.Module
    preprocess: Preprocess
    baseline: torch.Tensor | float
    class_names: list[str] | None
    occluder: tuple[int, int]
    mine_images: int = 0
    data_cfg: Config | None = None


# validation images mined for the top-9 of a committed model at more than 64 pixels (its
# inputs and display copies take 1.2 GB per 1,000 at 224; mining 1,000 takes about 50 s of
# CPU once, then it is cached)
LARGE_MINE_IMAGES = 1000


def default_occluder(crop: int) -> tuple[int, int]:
    """(size, stride) of the occluder for a ``crop``-pixel input: 3/14 and 1/7 of it
    (12 and 8 at 56 pixels: 49 positions, which keeps an update under a second on a CPU;
    48 and 32 at 224)."""
    return max(1, round(crop * 3 / 14)), max(1, round(crop / 7))


def zf_subject(name: str = "zfnet64", *, epoch: int | None = None,
               device: torch.device | str = "cpu") -> Subject:
    """A committed artifact (:func:`zflib.artifacts.load_trained`) as a :class:`Subject`.

    ``epoch``: its conv layers at that epoch (Fig. 4's snapshots); the classifier is then not
    shown, as it belongs to the final epoch. Conv-only artifacts (AlexNet-64, AlexNet-224 and
    the runs of the paper's recipe) have no trained classifier either. A model at more than
    64 pixels (ZFNet-224, AlexNet-224) mines :data:`LARGE_MINE_IMAGES` validation images
    unless the app is told how many (``mine_images``).
    """
    from zflib.artifacts import load_trained

    tr = load_trained(name, epoch=epoch, device=device)
    pre = Preprocess(tr.mean, tr.cfg.input_scale, tr.cfg.image_size, tr.cfg.crop_size)
    names = _tiny_names(tr.cfg) if tr.complete and epoch is None else None
    label = name if epoch is None else f"{name} (epoch {epoch})"
    return Subject(label, tr.model, pre, occlusion.grey_baseline(tr.mean, tr.cfg).to(device),
                   names, default_occluder(tr.cfg.crop_size), data_cfg=tr.cfg,
                   mine_images=LARGE_MINE_IMAGES if tr.cfg.crop_size > 64 else 0)


def _tiny_names(cfg) -> list[str] | None:
    """Class names of the dataset the model was trained on (None if it is not installed)."""
    from zflib.data import load_split

    try:
        return list(load_split(dataclasses.replace(cfg, val_limit=1), "val").names)
    except (FileNotFoundError, OSError, ValueError):
        return None


def torchvision_names() -> list[str]:
    """Every torchvision classification model name (``torchvision.models.list_models``)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


class TorchvisionNet(nn.Module):
    """torchvision's AlexNet or VGG (with or without batch norm) in the form the explorer
    needs.

    ``features`` is torchvision's own (the same modules, no copy); ``classifier`` is its
    ``avgpool``, ``flatten`` and ``classifier``, after an ``Unflatten``, so that
    ``classifier(flatten(features(x)))`` is exactly torchvision's ``forward``. Layers are
    named ``conv1``..``conv5`` (AlexNet) or ``conv1``..``conv13`` (VGG16), each the ReLU after
    its convolution.
    """

    def __init__(self, net: nn.Module, arch: str, *, size: int = 224) -> None:
        super().__init__()
        self.arch, self.size, self.input_size = arch, size, size
        self.features = net.features
        with torch.no_grad():
            c, h, w = self.features(torch.zeros(1, 3, size, size)).shape[1:]
        self.classifier = nn.Sequential(nn.Unflatten(1, (c, h, w)), net.avgpool, nn.Flatten(1),
                                        *net.classifier)
        self.feature_names = deconv.layer_indices(net)
        self.num_classes = net.classifier[-1].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def torchvision_subject(arch: str, weights: str | Path | None = None, *,
                        device: torch.device | str = "cpu", mine_images: int = 200) -> Subject:
    """Any torchvision classification model (``alexnet``, ``vgg16_bn``, ``resnet18``,
    ``densenet121``, ...: :func:`torchvision_names`) as a :class:`Subject`, at the crop its
    ImageNet weights were made for (224 pixels; 299 for Inception v3).

    AlexNet and VGG become a :class:`TorchvisionNet` (the fast path, layers ``conv1``..);
    every other model is used as it is (the general path, :mod:`zflib.deconv_general`, layers
    by module name, numbered stages ``layer1``.. for ResNet).

    Args:
        arch: a torchvision model name.
        weights: a local file holding the model's ``state_dict`` (torchvision's ImageNet
            checkpoints, e.g. ``vgg16-397923af.pth``); ``None``: random initialisation (no
            classifier shown). Nothing is ever downloaded.
        mine_images: images mined for the top-9 (a VGG16 pass costs about 15 GFLOPs an image).

    Paper: Sec. 4.1 (the same visualisations applied to Krizhevsky et al.'s AlexNet).
    """
    import torchvision

    valid = torchvision_names()
    if arch not in valid:
        raise ValueError(f"unknown torchvision model {arch!r}; valid: {', '.join(valid)}")
    kwargs = {"init_weights": False} if arch == "googlenet" else {}
    net = getattr(torchvision.models, arch)(weights=None, **kwargs)
    meta = torchvision.models.get_model_weights(arch).DEFAULT
    names = None
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no weights file at {path} for {arch}; give the path of "
                                    "a local state_dict (.pth)")
        net.load_state_dict(_torchvision_state(path, arch, net))
        names = list(meta.meta["categories"])
    recipe = meta.transforms()
    crop, stored = int(recipe.crop_size[0]), int(recipe.resize_size[0])
    net.eval()
    convs = list(deconv.layer_indices(net)) if hasattr(net, "features") else []
    if convs and isinstance(getattr(net, "classifier", None), nn.Sequential) and \
            hasattr(net, "avgpool") and deconv.uses_chain(net, convs[-1]):
        model = TorchvisionNet(net, arch, size=crop)
    else:
        model = net
        model.input_size = crop  # what network_input checks and the general path measures at
    model = model.eval().to(device)
    mean = torch.tensor(recipe.mean).view(3, 1, 1) * 255
    scale = 1 / (torch.tensor(recipe.std).view(3, 1, 1) * 255)
    label = arch if weights else f"{arch} (random init)"
    return Subject(label, model, Preprocess(mean, scale, stored, crop), 0.0, names,
                   default_occluder(crop), mine_images=mine_images)


def _torchvision_state(path: Path, arch: str, net: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``, checked against torchvision's ``arch`` (``net``); a
    ``ValueError`` naming the path and what is wrong otherwise."""
    import torchvision

    state = read_file(path, what=f"{arch} weights file",
                      advice="give the path of a state_dict saved by torch.save")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        zf = isinstance(state, dict) and "model" in state
        hint = " (a zflib checkpoint or artifact: use zf_subject)" if zf else ""
        raise ValueError(f"{path} does not hold a state_dict of tensors for {arch}{hint}")
    want = net.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [f"{k} {tuple(state[k].shape)} (want {tuple(v.shape)})" for k, v in want.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        with torch.device("meta"):  # the other model's keys, nothing allocated
            other = next((a for a in _HINTS if a != arch and set(state) == set(
                torchvision.models.get_model(a, weights=None).state_dict())), None)
        hint = f"; it looks like torchvision's {other}" if other else ""
        raise ValueError(
            f"{path} is not a torchvision {arch} state_dict{hint}: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(shapes)} of "
            f"another shape {shapes[:2]}")
    return state


# ----------------------------------------------------------------------------- compute


@dataclass
class View:
    """Everything the explorer shows for one (model, layer, map, image): tensors only.

    Attributes:
        model, layer, fmap, title: what is shown.
        image: [3, S, S] the input as the network sees it, 0..1.
        activations: [C, h, w] the layer's maps for this image.
        position, value: (y, x) and value of the map's strongest activation in this image.
        projection: [3, S, S] its deconvnet projection (Sec. 2.1).
        rf: the layer's receptive field (for the box around a unit).
        top: the map's top-k over the mined images, projected, with their patches (Fig. 2).
        occlusion: the occlusion maps of this map and the target class (Fig. 7), or None.
        target, target_name, prob: the class of the occlusion's probability map, its name and
            probability on the unoccluded image (None without a trained classifier).
        timings: seconds spent per step of this update (cached steps are near 0).
    """

    model: str
    layer: str
    fmap: int
    title: str
    image: torch.Tensor
    activations: torch.Tensor
    position: tuple[int, int]
    value: float
    projection: torch.Tensor
    rf: ReceptiveField
    top: topk.TopProjections
    occlusion: occlusion.OcclusionMaps | None
    target: int | None
    target_name: str | None
    prob: float | None
    timings: dict[str, float]


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key, make: Callable):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class Explorer:
    """The explorer's compute for one :class:`Subject` and one set of images.

    Args:
        subject: the model.
        images: uint8 [N, H, W, 3]; the top-9 is mined over them and an image index refers to
            them.
        labels: [N] classes in the subject's output space (``None``: the occlusion's class is
            the predicted one).
        names: optional title of each image (e.g. its class name).
        k: activations per map in the top-k (paper: 9).
        cache_dir: where mined top-k are stored (default ``zflib.topk.mining_cache()``).
        batch_size: images per forward pass while mining.

    The constructor mines (or loads the cached result): about 15 s for 2,000 images of
    ZFNet-64 on one CPU thread, once.

    Paper: Sec. 2.1, Sec. 4 (Fig. 2), Sec. 4.2 (Fig. 7).
    """

    def __init__(self, subject: Subject, images: torch.Tensor, *,
                 labels: torch.Tensor | None = None, names: Sequence[str] | None = None,
                 k: int = 9, cache_dir: str | Path | None = None, batch_size: int = 128) -> None:
        if len(images) == 0:
            raise ValueError("images is empty; give at least one uint8 [H, W, 3] image")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.subject = subject
        self.model = subject.model
        self.device = next(self.model.parameters()).device
        self.layers = deconv.layer_names(self.model)
        self.images = images
        self.labels = labels
        self.names = list(names) if names is not None else None
        self.inputs = subject.preprocess.inputs(images)
        self.display = subject.preprocess.display(images)
        self.k = k
        self.cache_dir = Path(cache_dir) if cache_dir is not None else topk.mining_cache()
        self.top, self.mining_seconds, self.mining_cached = topk.cached_mine_topk(
            self.model, self.inputs, cache_dir=self.cache_dir, layers=self.layers, k=k,
            batch_size=batch_size, images=images, name=subject.name)
        self._channels = {n: self.top[n].values.shape[0] for n in self.layers}
        self._traces = _LRU(4)
        self._tops = _LRU(64)
        self._occl = _LRU(64)
        self._probs = _LRU(64)
        self._user: dict[str, torch.Tensor] = {}

    # --- geometry -----------------------------------------------------------------------
    def channels(self, layer: int | str) -> int:
        """Number of feature maps of ``layer``."""
        return self._channels[deconv.resolve_layer(self.model, layer)]

    def add_image(self, data: bytes | str | Path, *, key: str = "upload") -> str:
        """Add the user's own image (file bytes or a path), decoded like the dataset; return
        the key to pass to :meth:`view` as ``image``."""
        from PIL import Image

        from zflib.data.common import decode_image

        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
        try:
            arr = decode_image(src, self.subject.preprocess.stored)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            what = "" if src is data else " (the bytes given)"
            reason = str(err).replace(repr(src), "").strip() or type(err).__name__
            raise ValueError(f"cannot read image {key!r}{what}: {reason}") from err
        self._user[key] = torch.from_numpy(arr.copy())[None]
        for cache in (self._traces, self._occl, self._probs):
            for old in [c for c in cache if c == key or (isinstance(c, tuple) and c[0] == key)]:
                del cache[old]
        return key

    def _image(self, image: int | str) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(input [1, 3, S, S], display [3, S, S], title) of an index or an added image."""
        if isinstance(image, str):
            if image not in self._user:
                raise ValueError(f"no added image {image!r}; added: {', '.join(self._user)}"
                                 " (use add_image)")
            raw = self._user[image]
            pre = self.subject.preprocess
            return pre.inputs(raw), pre.display(raw)[0], f"your image ({image})"
        n = len(self.inputs)
        if isinstance(image, bool) or not isinstance(image, int) or not 0 <= image < n:
            raise ValueError(f"image {image!r} out of range 0..{n - 1}")
        title = f"image {image}"
        if self.names is not None:
            title += f": {self.names[image]}"
        return self.inputs[image:image + 1], self.display[image], title

    # --- the update -----------------------------------------------------------------------
    @torch.no_grad()
    def view(self, layer: int | str, fmap: int, image: int | str = 0, *,
             with_occlusion: bool = True) -> View:
        """Compute what the explorer shows for map ``fmap`` of ``layer`` and ``image`` (an
        index into the images, or a key from :meth:`add_image`).

        Raises ``ValueError`` naming the valid range of a bad layer, map or image.

        Paper: Sec. 2.1, Fig. 2, Fig. 7.
        """
        timings: dict[str, float] = {}
        name = deconv.resolve_layer(self.model, layer)
        c = self._channels[name]
        if isinstance(fmap, bool) or not isinstance(fmap, int) or not 0 <= fmap < c:
            raise ValueError(f"map {fmap!r} out of range 0..{c - 1} of {name}")
        x, disp, title = self._image(image)
        x = x.to(self.device)

        t = time.perf_counter()
        trace = self._traces.get_or(image, lambda: deconv.forward_trace(self.model, x,
                                                                        self.layers))
        pos, val = trace.strongest(name)
        proj = trace.project(name, [fmap], pos[[fmap]])[0]
        timings["trace+projection"] = time.perf_counter() - t

        t = time.perf_counter()
        tp = self._tops.get_or((name, fmap), lambda: topk.top_projections(
            self.model, self.inputs, self.display, self.top, name, [fmap]))
        timings["top-k projections"] = time.perf_counter() - t

        t = time.perf_counter()
        classify = self.subject.class_names is not None
        probs = self._probs.get_or(image, lambda: torch.softmax(
            self.model(x).float(), 1)[0].cpu())
        if isinstance(image, int) and self.labels is not None:
            target = int(self.labels[image])
        else:
            target = int(probs.argmax())
        timings["classify"] = time.perf_counter() - t

        t = time.perf_counter()
        occ = None
        if with_occlusion:
            size, stride = self.subject.occluder
            occ = self._occl.get_or(
                (image, name, fmap, size, stride), lambda: occlusion.occlusion_maps(
                    self.model, x[0], target, size=size, stride=stride,
                    baseline=self.subject.baseline, layer=name, channel=fmap))
        timings["occlusion"] = time.perf_counter() - t

        y, xx = (int(v) for v in pos[fmap])
        return View(
            model=self.subject.name, layer=name, fmap=fmap, title=title, image=disp.cpu(),
            activations=trace.acts[name][0].cpu(), position=(y, xx), value=float(val[fmap]),
            projection=proj.cpu(), rf=receptive_field(self.model, name), top=tp, occlusion=occ,
            target=target if classify else None,
            target_name=self.subject.class_names[target] if classify else None,
            prob=float(probs[target]) if classify else None, timings=timings)


# ----------------------------------------------------------------------------- widgets


# The committed artifacts the explorer offers, in dropdown order: the 64-pixel models, then
# ZFNet-224 and AlexNet-224 (the paper's geometry, Fig. 3)
ARTIFACTS = ("zfnet64", "alexnet64", "zfnet64-paper-sgd", "zfnet64-paper-sgd-norenorm",
             "zfnet224", "alexnet224")


def model_choices() -> dict[str, tuple[str, int | None]]:
    """The committed artifacts present (:data:`ARTIFACTS`), as dropdown label -> (artifact,
    epoch): ``zfnet64``, ``alexnet64``, ``zfnet64-paper-sgd`` and its ``-norenorm`` twin,
    ``zfnet224`` and ``alexnet224``, each followed by its epoch snapshots (Fig. 4) where it
    has them."""
    from zflib.artifacts import artifacts_dir, available_epochs

    out: dict[str, tuple[str, int | None]] = {}
    for name in ARTIFACTS:
        folder = artifacts_dir() / name
        if (folder / "model.pt").exists() or (folder / "conv.pt").exists():
            out[name] = (name, None)
            for e in available_epochs(name):
                out[f"{name} (epoch {e})"] = (name, e)
    return out


class ExplorerApp:
    """The explorer's widgets: model dropdown, layer / map / image sliders, a file upload,
    an occlusion switch, a status line and the picture (one PNG from
    :func:`zflib.viz.explorer.render_png`).

    Build with :func:`app`; show ``.widget``. ``.view`` is the last :class:`View`, ``.png``
    the last picture, ``.seconds`` the last update's time (compute and drawing).

    Args:
        loaders: dropdown label -> a function returning the :class:`Explorer` of that model
            (called once per label, then kept).
        layer, fmap, image: the initial selection.
    """

    def __init__(self, loaders: Mapping[str, Callable[[], Explorer]], *, layer: int = 1,
                 fmap: int = 0, image: int = 0, keep: int = 2) -> None:
        import ipywidgets as W

        if not loaders:
            raise ValueError("no model to explore: loaders is empty (no committed artifacts "
                             "and no torchvision weights given)")
        self.loaders = dict(loaders)
        self._explorers = _LRU(keep)
        self._busy = False
        self.view: View | None = None
        self.png = b""
        self.seconds = 0.0
        first = next(iter(self.loaders))
        ex = self._explorer(first)
        style = {"description_width": "70px"}
        lay = W.Layout(width="420px")
        self.model_w = W.Dropdown(options=list(self.loaders), value=first, description="model",
                                  style=style, layout=lay)
        self.layer_w = W.IntSlider(value=layer, min=1, max=len(ex.layers), description="layer",
                                   continuous_update=False, style=style, layout=lay)
        self.map_w = W.IntSlider(value=fmap, min=0, max=ex.channels(layer) - 1,
                                 description="map", continuous_update=False, style=style,
                                 layout=lay)
        self.image_w = W.IntSlider(value=image, min=0, max=len(ex.inputs) - 1,
                                   description="val image", continuous_update=False,
                                   style=style, layout=lay)
        self.source_w = W.ToggleButtons(options=["validation", "my file"], value="validation",
                                        description="image", style=style)
        self.upload_w = W.FileUpload(accept="image/*", multiple=False,
                                     description="upload image")
        self.occl_w = W.Checkbox(value=True, description="occlusion map", indent=False)
        self.status_w = W.HTML()
        self.picture_w = W.Image(format="png")
        self.picture_w.add_class("zf-explorer-picture")
        for w in (self.model_w, self.layer_w, self.map_w, self.image_w, self.source_w,
                  self.occl_w):
            w.observe(self._on_change, names="value")
        self.upload_w.observe(self._on_upload, names="value")
        controls = W.VBox([self.model_w, self.layer_w, self.map_w, self.image_w,
                           W.HBox([self.source_w, self.upload_w]), self.occl_w, self.status_w])
        self.widget = W.VBox([controls, self.picture_w])
        self.update()

    def _explorer(self, label: str) -> Explorer:
        if label not in self.loaders:
            raise ValueError(f"unknown model {label!r}; valid: {', '.join(self.loaders)}")
        return self._explorers.get_or(label, self.loaders[label])

    @property
    def explorer(self) -> Explorer:
        return self._explorer(self.model_w.value)

    def _on_upload(self, change) -> None:
        value = change["new"]
        files = list(value.values()) if isinstance(value, dict) else list(value)
        if not files:
            return
        f = files[-1]
        content, name = bytes(f["content"]), f.get("name", "upload")
        try:
            self.explorer.add_image(content, key="upload")
        except (ValueError, OSError) as err:  # not an image: say so, keep the last good upload
            self.status_w.value = f"<b style='color:#b00'>{name}: {err}</b>"
            return
        self._upload = (content, name)
        if self.source_w.value == "my file":
            self.update()
        else:
            self.source_w.value = "my file"  # triggers the update

    def _on_change(self, change) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            ex = self.explorer
            if change["owner"] is self.model_w:
                self.layer_w.max = len(ex.layers)
                self.image_w.max = len(ex.inputs) - 1
                if getattr(self, "_upload", None):  # the latest upload, also for a model
                    ex.add_image(self._upload[0], key="upload")  # whose explorer kept an older one
            self.map_w.max = ex.channels(self.layer_w.value) - 1
        except (ValueError, OSError) as err:  # a model that cannot load: say why, stay usable
            self.status_w.value = f"<b style='color:#b00'>{self.model_w.value}: {err}</b>"
            return
        finally:
            self._busy = False
        self.update()

    def update(self) -> None:
        """Recompute the view for the widgets' values and redraw."""
        from zflib.viz.explorer import render_png

        t = time.perf_counter()
        ex = self.explorer
        source = self.source_w.value
        image = "upload" if source == "my file" and "upload" in ex._user else \
            self.image_w.value
        try:
            self.view = ex.view(self.layer_w.value, self.map_w.value, image,
                                with_occlusion=self.occl_w.value)
            t_draw = time.perf_counter()
            self.png = render_png(self.view)
            draw = time.perf_counter() - t_draw
        except ValueError as err:
            self.status_w.value = f"<b style='color:#b00'>{err}</b>"
            return
        self.picture_w.value = self.png
        self.seconds = time.perf_counter() - t
        note = "" if source == "validation" or image == "upload" else \
            " (upload a file first; showing the validation image)"
        steps = ", ".join(f"{k} {1000 * v:.0f}" for k, v in self.view.timings.items())
        self.status_w.value = (
            f"{self.view.model}, {self.view.layer}, map {self.view.fmap}, {self.view.title}"
            f"{note} &mdash; update {1000 * self.seconds:.0f} ms ({steps}, drawing "
            f"{1000 * draw:.0f} ms)")


def app(profile: str = "smoke", *, mine_images: int = 0,
        torchvision: Mapping[str, str | Path | None] | None = None,
        models: Sequence[str] = (),
        image_folder: str | Path | None = None, device: torch.device | str = "cpu",
        cache_dir: str | Path | None = None) -> ExplorerApp:
    """The explorer over the committed models (and torchvision's, given their weights).

    Args:
        profile: picks how many validation images are mined (its ``explorer_images``).
        mine_images: override that number (0: the profile's, but
            :data:`LARGE_MINE_IMAGES` for ZFNet-224 and AlexNet-224).
        torchvision: ``{name: path of its pretrained weights}`` (any torchvision
            classification model name, :func:`torchvision_names`); an empty path
            leaves the model out, ``None`` adds it randomly initialised.
        models: more artifacts to offer (:func:`zflib.artifacts.load_trained` names, e.g. a
            ZFNet-224 trained with the ``paper`` profile and exported with
            :func:`zflib.artifacts.export_run`); their images: the validation split they were
            trained on.
        image_folder: use the image files of this folder (jpg, png) instead of the Tiny
            ImageNet validation split (labels then unknown; the occlusion map follows the
            predicted class).
        device: where models run.
        cache_dir: where mined top-k are cached (default ``zflib.topk.mining_cache()``).

    Returns an :class:`ExplorerApp`; display its ``.widget``.

    Paper: Sec. 2.1, Fig. 2, Fig. 7.
    """
    n_default = get_config(profile).explorer_images
    folder = folder_images(image_folder) if image_folder else None
    loaders: dict[str, Callable[[], Explorer]] = {}
    choices = {**model_choices(), **{name: (name, None) for name in models}}
    for label, (name, epoch) in choices.items():
        loaders[label] = _zf_loader(name, epoch, mine_images, n_default, folder, device,
                                    cache_dir)
    for arch, weights in (torchvision or {}).items():
        if weights == "":
            continue
        subject_fn = functools.partial(torchvision_subject, arch, weights, device=device)
        loaders[arch if weights else f"{arch} (random init)"] = _tv_loader(
            subject_fn, mine_images, folder, cache_dir)
    return ExplorerApp(loaders)


def _zf_loader(name: str, epoch: int | None, asked: int, n_default: int, folder, device,
               cache_dir):
    def load() -> Explorer:
        from zflib.data import load_split

        subject = zf_subject(name, epoch=epoch, device=device)
        # the app's mine_images, else the model's own cap (224 px), else the profile's
        n = asked or subject.mine_images or n_default
        if folder is not None:
            return Explorer(subject, folder[0][:n], names=folder[1][:n], cache_dir=cache_dir)
        val = load_split(dataclasses.replace(subject.data_cfg, val_limit=n), "val")
        labels = val.labels if subject.class_names is not None else None
        return Explorer(subject, val.images, labels=labels,
                        names=[val.names[i] for i in val.labels.tolist()], cache_dir=cache_dir)
    return load


def _tv_loader(subject_fn, n: int, folder, cache_dir):
    def load() -> Explorer:
        from zflib.data import load_split

        subject = subject_fn()
        m = n or subject.mine_images
        if folder is not None:
            return Explorer(subject, folder[0][:m], names=folder[1][:m], cache_dir=cache_dir,
                            batch_size=16)
        val = load_split(get_config("full", val_limit=m), "val")
        return Explorer(subject, val.images, names=[val.names[i] for i in val.labels.tolist()],
                        cache_dir=cache_dir, batch_size=16)
    return load


__all__ = ["TORCHVISION", "ARTIFACTS", "LARGE_MINE_IMAGES", "torchvision_names", "Preprocess",
           "Subject", "TorchvisionNet", "View",
           "Explorer", "ExplorerApp", "app", "default_occluder", "model_choices",
           "torchvision_subject", "zf_subject"]
