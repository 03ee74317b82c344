"""A subject: a model, how images become its inputs, and the images it is shown with.

Every tool of the toolkit is pointed at one: the explorer (:mod:`zflib.apps.explorer`), top-9
mining from the command line (:mod:`zflib.apps.mine`) and the atlas (:mod:`zflib.apps.atlas`).
:func:`zf_subject` makes one of a committed artifact (ZFNet-64 / AlexNet-64, ZFNet-224 /
AlexNet-224 and the epoch snapshots), :func:`torchvision_subject` of any torchvision
classification model with pretrained weights from a local file (nothing is downloaded).

Paper: Sec. 3 (the paper's preprocessing: mean image subtracted, centre crop), Sec. 4.1 (the
same visualisations applied to other networks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zflib.checkpoint import read_file
from zflib.config import Config
from zflib.data.common import ImageSet
from zflib.methods import deconv, occlusion

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
            :mod:`zflib.methods.deconv` accepts), ``classifier`` after ``flatten``, ``num_classes``,
            ``feature_names`` (what :func:`zflib.methods.occlusion.occlusion_maps` needs).
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
    """A committed artifact (:func:`zflib.training.artifacts.load_trained`) as a :class:`Subject`.

    ``epoch``: its conv layers at that epoch (Fig. 4's snapshots); the classifier is then not
    shown, as it belongs to the final epoch. Conv-only artifacts (AlexNet-64, AlexNet-224 and
    the runs of the paper's recipe) have no trained classifier either. A model at more than
    64 pixels (ZFNet-224, AlexNet-224) mines :data:`LARGE_MINE_IMAGES` validation images
    unless the app is told how many (``mine_images``).
    """
    from zflib.training.artifacts import load_trained

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


def subject_examples(sub: Subject) -> ImageSet:
    """One full-resolution ImageNet image for each class of ``sub``'s outputs, decoded at its
    stored size from the file (:func:`zflib.data.natural.load_examples`; ``python -m zflib.data
    install imagenet-examples``), labelled in the order of its outputs.

    A committed model (``data_cfg`` set): the classes of the data it was trained on (Tiny
    ImageNet's 200, :func:`zflib.data.load_images`). A torchvision model: all 1,000 ImageNet
    classes in sorted WordNet-id order, the order of torchvision's ImageNet outputs.

    Paper: Sec. 3 (256-pixel images), Sec. 4 (the visualisations, on natural images).
    """
    from zflib.data import load_images
    from zflib.data.natural import load_examples
    from zflib.data.natural_counts import example_files

    if sub.data_cfg is not None:
        return load_images(dataclasses.replace(sub.data_cfg, val_limit=0), "examples")
    return load_examples(sub.preprocess.stored, sorted(example_files()))


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
    every other model is used as it is (the general path, :mod:`zflib.methods.deconv_general`,
    layers by module name, numbered stages ``layer1``.. for ResNet).

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
