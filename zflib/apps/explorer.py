"""The interactive explorer: one model, one layer, one feature map, one image, every view.

For the chosen model, layer (``conv1``..), feature map and image (a validation image, a
full-resolution ImageNet example of one of the model's classes, or your own file: the image
source, :data:`SOURCES`) the explorer shows the input, the layer's activations, the top-9
activations of the map over a set of validation images projected to pixels beside their image
patches (Fig. 2),
the deconvnet projection of the map's strongest activation in the chosen image (Sec. 2.1), and
an occlusion map (Fig. 7): the map's total activation and the probability of the image's class
as a grey square slides over the image.

Three layers, kept apart:

- :class:`Subject` (:mod:`zflib.methods.subject`): a model and how images become its inputs
  (:func:`zf_subject` for the committed artifacts, :data:`ARTIFACTS`: ZFNet-64 / AlexNet-64,
  ZFNet-224 / AlexNet-224, and the epoch snapshots, :func:`torchvision_subject` for any
  torchvision classification model with pretrained weights from a local file).
- :class:`Explorer`: the compute for one subject and one image set, through
  :mod:`zflib.methods.deconv`, :mod:`zflib.methods.topk` and :mod:`zflib.methods.occlusion`. The
  top-9 mining runs once per model and image set and is cached on disk under
  ``zflib.methods.topk.mining_cache()``; traces, projections and occlusion maps are cached in
  memory, so moving a slider recomputes only what changed. :meth:`Explorer.view` returns a
  :class:`View` (tensors only); plotting is :mod:`zflib.viz.explorer`.
- :class:`ExplorerApp` (built by :func:`app`): the ipywidgets front end (dropdowns, sliders, a
  file upload, one PNG), used by ``notebooks/00_explorer.ipynb`` and ``make explore`` (Voila).
  Its ``rule`` dropdown picks the projections' backward rule: the deconvnet (the paper's),
  guided backprop or the gradient (:func:`zflib.methods.deconv.project`).

Any torchvision classification model (AlexNet and VGG, with or without batch norm, on the
deconvnet's fast path; ResNet, DenseNet and the others on :mod:`zflib.methods.deconv_general`, their
stages as layers, occlusion by plain re-inference). With the ImageNet weights in a local file
(for example ``alexnet-owt-7be5be79.pth`` or ``resnet18-f37072fd.pth`` as torchvision saves
them under ``~/.cache/torch/hub/checkpoints``; nothing is downloaded)::

    from zflib.apps.explorer import app
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
from pathlib import Path

import torch

from zflib.config import get_config
from zflib.data.folder import folder_images
from zflib.methods import deconv, occlusion, topk
from zflib.methods.deconv_steps import RULES, check_rule
from zflib.methods.receptive import receptive_field
from zflib.methods.subject import (  # noqa: F401  (re-exported: the explorer's subjects)
    IMAGENET_MEAN,
    IMAGENET_STD,
    LARGE_MINE_IMAGES,
    Preprocess,
    Subject,
    TorchvisionNet,
    default_occluder,
    subject_examples,
    torchvision_names,
    torchvision_subject,
    zf_subject,
)
from zflib.viz.explorer import View

TORCHVISION = ("alexnet", "vgg16")  # the chains the explorer was first written for
# ----------------------------------------------------------------------------- compute


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
        cache_dir: where mined top-k are stored (default ``zflib.methods.topk.mining_cache()``).
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
            batch_size=batch_size, images=images, name=subject.name, progress=False)
        self._channels = {n: self.top[n].values.shape[0] for n in self.layers}
        self._traces = _LRU(4)
        self._tops = _LRU(64)
        self._occl = _LRU(64)
        self._probs = _LRU(64)
        self._user: dict[str, torch.Tensor] = {}
        # other image sets to look at (not mined): name -> (images, labels or None, names)
        self.sets: dict[str, tuple[torch.Tensor, torch.Tensor | None, list[str] | None]] = {}

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

    def add_set(self, name: str, images: torch.Tensor, *, labels: torch.Tensor | None = None,
                names: Sequence[str] | None = None) -> None:
        """Another image set to look at (e.g. the full-resolution ImageNet examples,
        :func:`zflib.methods.subject.subject_examples`): ``view(..., image=(name, i))`` shows
        its image ``i``, while the top-9 stays mined over the explorer's own images.

        Args:
            images: uint8 [N, H, W, 3] (resized as the subject's preprocessing says).
            labels: [N] classes in the subject's output space (``None``: the occlusion's class
                is the predicted one); names: a title for each image.
        """
        if len(images) == 0:
            raise ValueError(f"image set {name!r} is empty; give at least one image")
        for what, values in (("labels", labels), ("names", names)):
            if values is not None and len(values) != len(images):
                raise ValueError(f"{len(values)} {what} for the {len(images)} images of "
                                 f"{name!r}")
        self.sets[name] = (images, labels, list(names) if names is not None else None)
        for cache in (self._traces, self._occl, self._probs):  # views of an older set of name
            cache.clear()

    def _image(self, image: int | str | tuple[str, int]
               ) -> tuple[torch.Tensor, torch.Tensor, str, int | None]:
        """(input [1, 3, S, S], display [3, S, S], title, label or None) of an index, an
        added image or an image of an added set."""
        pre = self.subject.preprocess
        if isinstance(image, str):
            if image not in self._user:
                raise ValueError(f"no added image {image!r}; added: {', '.join(self._user)}"
                                 " (use add_image)")
            raw = self._user[image]
            return pre.inputs(raw), pre.display(raw)[0], f"your image ({image})", None
        if isinstance(image, tuple):
            name, i = image
            if name not in self.sets:
                raise ValueError(f"no image set {name!r}; added: "
                                 f"{', '.join(self.sets) or 'none'} (use add_set)")
            images, labels, names = self.sets[name]
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(images):
                raise ValueError(f"image {i!r} out of range 0..{len(images) - 1} of {name}")
            raw = images[i:i + 1]
            title = f"{name} {i}" + (f": {names[i]}" if names is not None else "")
            return (pre.inputs(raw), pre.display(raw)[0], title,
                    int(labels[i]) if labels is not None else None)
        n = len(self.inputs)
        if isinstance(image, bool) or not isinstance(image, int) or not 0 <= image < n:
            raise ValueError(f"image {image!r} out of range 0..{n - 1}")
        title = f"image {image}"
        if self.names is not None:
            title += f": {self.names[image]}"
        label = int(self.labels[image]) if self.labels is not None else None
        return self.inputs[image:image + 1], self.display[image], title, label

    # --- the update -----------------------------------------------------------------------
    @torch.no_grad()
    def view(self, layer: int | str, fmap: int, image: int | str | tuple[str, int] = 0, *,
             with_occlusion: bool = True, rule: str = "deconvnet") -> View:
        """Compute what the explorer shows for map ``fmap`` of ``layer`` and ``image`` (an
        index into the images, a key from :meth:`add_image`, or ``(set, index)`` of a set
        from :meth:`add_set`); the projections by ``rule`` (``"deconvnet"``, ``"guided"`` or
        ``"gradient"``, :func:`zflib.methods.deconv.project`).

        Raises ``ValueError`` naming the valid range of a bad layer, map or image.

        Paper: Sec. 2.1, Fig. 2, Fig. 7.
        """
        timings: dict[str, float] = {}
        check_rule(rule, None)
        name = deconv.resolve_layer(self.model, layer)
        c = self._channels[name]
        if isinstance(fmap, bool) or not isinstance(fmap, int) or not 0 <= fmap < c:
            raise ValueError(f"map {fmap!r} out of range 0..{c - 1} of {name}")
        x, disp, title, label = self._image(image)
        x = x.to(self.device)

        t = time.perf_counter()
        trace = self._traces.get_or(image, lambda: deconv.forward_trace(self.model, x,
                                                                        self.layers))
        pos, val = trace.strongest(name)
        proj = trace.project(name, [fmap], pos[[fmap]], rule=rule)[0]
        timings["trace+projection"] = time.perf_counter() - t

        t = time.perf_counter()
        tp = self._tops.get_or((name, fmap, rule), lambda: topk.top_projections(
            self.model, self.inputs, self.display, self.top, name, [fmap], rule=rule,
            progress=False))
        timings["top-k projections"] = time.perf_counter() - t

        t = time.perf_counter()
        classify = self.subject.class_names is not None
        probs = self._probs.get_or(image, lambda: torch.softmax(
            self.model(x).float(), 1)[0].cpu())
        target = label if label is not None else int(probs.argmax())
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
            prob=float(probs[target]) if classify else None, timings=timings, rule=rule)


# ----------------------------------------------------------------------------- widgets


# The image sources of the explorer's toggle: the validation images it mined, the
# full-resolution ImageNet examples of the model's classes (subject_examples), your own file
SOURCES = {"validation": "the validation images mined for the top-9",
           "examples": "one full-resolution ImageNet image of each of the model's classes",
           "my file": "an uploaded image"}

# The committed artifacts the explorer offers, in dropdown order: the 64-pixel models, then
# ZFNet-224 and AlexNet-224 (the paper's geometry, Fig. 3)
ARTIFACTS = ("zfnet64", "alexnet64", "zfnet64-paper-sgd", "zfnet64-paper-sgd-norenorm",
             "zfnet224", "alexnet224")


def model_choices() -> dict[str, tuple[str, int | None]]:
    """The committed artifacts present (:data:`ARTIFACTS`), as dropdown label -> (artifact,
    epoch): ``zfnet64``, ``alexnet64``, ``zfnet64-paper-sgd`` and its ``-norenorm`` twin,
    ``zfnet224`` and ``alexnet224``, each followed by its epoch snapshots (Fig. 4) where it
    has them."""
    from zflib.training.artifacts import artifacts_dir, available_epochs

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
        self.source_w = W.ToggleButtons(options=list(SOURCES), value="validation",
                                        description="image", style=style)
        self.upload_w = W.FileUpload(accept="image/*", multiple=False,
                                     description="upload image")
        self.rule_w = W.Dropdown(options=list(RULES), value="deconvnet", description="rule",
                                 style=style, layout=lay)  # the backward rule
        self.occl_w = W.Checkbox(value=True, description="occlusion map", indent=False)
        self.status_w = W.HTML()
        self.picture_w = W.Image(format="png")
        self.picture_w.add_class("zf-explorer-picture")
        for w in (self.model_w, self.layer_w, self.map_w, self.image_w, self.source_w,
                  self.rule_w, self.occl_w):
            w.observe(self._on_change, names="value")
        self.upload_w.observe(self._on_upload, names="value")
        controls = W.VBox([self.model_w, self.layer_w, self.map_w, self.image_w,
                           W.HBox([self.source_w, self.upload_w]), self.rule_w, self.occl_w,
                           self.status_w])
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

    def _examples(self, ex: Explorer) -> int:
        """The examples set of ``ex`` (:func:`zflib.methods.subject.subject_examples`, loaded
        on first use and added as the set ``examples``): its number of images."""
        if "examples" not in ex.sets:
            data = subject_examples(ex.subject)
            labels = data.labels if ex.subject.class_names is not None else None
            ex.add_set("examples", data.images, labels=labels,
                       names=[data.names[y] for y in data.labels.tolist()])
        return len(ex.sets["examples"][0])

    def _on_change(self, change) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            ex = self.explorer
            if change["owner"] is self.model_w:
                self.layer_w.max = len(ex.layers)
                if getattr(self, "_upload", None):  # the latest upload, also for a model
                    ex.add_image(self._upload[0], key="upload")  # whose explorer kept an older one
            if change["owner"] in (self.model_w, self.source_w):  # the slider spans the source
                examples = self.source_w.value == "examples"
                self.image_w.max = (self._examples(ex) if examples else len(ex.inputs)) - 1
                self.image_w.description = "example" if examples else "val image"
            self.map_w.max = ex.channels(self.layer_w.value) - 1
        except (ValueError, OSError) as err:  # a model or image set that cannot load: say
            self.status_w.value = f"<b style='color:#b00'>{self.model_w.value}: {err}</b>"  # why
            return
        finally:
            self._busy = False
        self.update()

    def update(self) -> None:
        """Recompute the view for the widgets' values and redraw."""
        from zflib.viz.explorer import render_png  # matplotlib on first use only

        t = time.perf_counter()
        ex = self.explorer
        source = self.source_w.value
        image = "upload" if source == "my file" and "upload" in ex._user else \
            ("examples", self.image_w.value) if source == "examples" and "examples" in ex.sets \
            else self.image_w.value
        try:
            self.view = ex.view(self.layer_w.value, self.map_w.value, image,
                                with_occlusion=self.occl_w.value, rule=self.rule_w.value)
            t_draw = time.perf_counter()
            self.png = render_png(self.view)
            draw = time.perf_counter() - t_draw
        except ValueError as err:
            self.status_w.value = f"<b style='color:#b00'>{err}</b>"
            return
        self.picture_w.value = self.png
        self.seconds = time.perf_counter() - t
        note = "" if source == "validation" or image == "upload" or isinstance(image, tuple) \
            else " (upload a file first; showing the validation image)" if source == "my file" \
            else " (no examples: showing the validation image)"
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
        models: more artifacts to offer (:func:`zflib.training.artifacts.load_trained` names, e.g. a
            ZFNet-224 trained with the ``paper`` profile and exported with
            :func:`zflib.training.artifacts.export_run`); their images: the validation split they
            were trained on.
        image_folder: use the image files of this folder (jpg, png) instead of the Tiny
            ImageNet validation split (labels then unknown; the occlusion map follows the
            predicted class).
        device: where models run.
        cache_dir: where mined top-k are cached (default ``zflib.methods.topk.mining_cache()``).

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


__all__ = ["TORCHVISION", "ARTIFACTS", "SOURCES", "LARGE_MINE_IMAGES", "torchvision_names",
           "Preprocess",
           "Subject", "TorchvisionNet", "View",
           "Explorer", "ExplorerApp", "app", "default_occluder", "model_choices",
           "torchvision_subject", "zf_subject"]
