"""ZFNet (Fig. 3), Krizhevsky's AlexNet as one dense network, and the ablations of Table 3.

Two geometries, both with the paper's layer types and widths (96, 256, 384, 384, 256 maps;
fc 4096-4096 with dropout 0.5):

=========  ==================================  ====================================
layer      ZFNet-224 (Fig. 3)                  ZFNet-64 (Tiny ImageNet, 56 crops)
=========  ==================================  ====================================
input      3 x 224 x 224                       3 x 56 x 56
conv1      96 7x7/2 pad 1 -> 110               96 7x7/2 pad 3 -> 28
pool1      3x3/2 -> 55, LRN                    3x3/2 -> 14, LRN
conv2      256 5x5/2 -> 26                     256 5x5/2 pad 2 -> 7
pool2      3x3/2 -> 13, LRN                    (dropped), LRN
conv3-5    384, 384, 256 3x3 pad 1 -> 13       384, 384, 256 3x3 pad 1 -> 7
pool5      3x3/2 -> 6 (fc6 input 9216)         3x3/2 -> 3 (fc6 input 2304)
=========  ==================================  ====================================

Pools use ``ceil_mode=True`` so that the paper's sizes (55, 13, 6) come out. AlexNet differs
only in its first two layers (11x11/4 conv1, 5x5/1 conv2), as Sec. 4.1 describes; its 64-pixel
form uses conv1 11x11/4 pad 5 (-> 14), pool (-> 7), conv2 5x5/1 pad 2 (-> 7), so both networks
meet at the same 7x7 conv3 input, just as both meet at 13x13 in the paper.

Layers are reached by the paper's names (``conv1``..``conv5``, ``fc6``..``fc8``) through
:func:`layer_module`; the conv names point at the ReLU after each convolution (the feature maps
the paper visualises), ``fc6``/``fc7`` at the ReLU after each linear layer, ``fc8`` at the logits.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

if TYPE_CHECKING:
    from zflib.config import Config

ABLATIONS: dict[str, str] = {
    "none": "as per Fig. 3",
    "no34": "removed layers 3, 4",
    "no7": "removed layer 7",
    "no67": "removed layers 6, 7",
    "no3467": "removed layers 3, 4, 6, 7",
    "fc2048": "layers 6, 7: 2048 units",
    "fc8192": "layers 6, 7: 8192 units",
    "wide345": "layers 3, 4, 5: 512, 1024, 512 maps",
    "wide345_fc8192": "layers 3, 4, 5: 512, 1024, 512 maps and layers 6, 7: 8192 units",
}

# (out, kernel, stride, pad) of conv1 and conv2; pool after conv2 or not.
_STEM = {
    ("zfnet", 224): ((96, 7, 2, 1), (256, 5, 2, 0), True),
    ("zfnet", 64): ((96, 7, 2, 3), (256, 5, 2, 2), False),
    ("alexnet", 224): ((96, 11, 4, 2), (256, 5, 1, 2), True),
    ("alexnet", 64): ((96, 11, 4, 5), (256, 5, 1, 2), False),
}
INPUT_SIZE = {224: 224, 64: 56}
ARCHITECTURES = tuple(_STEM)  # the (arch, size) pairs that can be built


def _lrn() -> nn.LocalResponseNorm:
    """Contrast normalisation across maps (Krizhevsky et al.'s constants)."""
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


class BandLRN(nn.LocalResponseNorm):
    """:class:`torch.nn.LocalResponseNorm`, the same function, with its sum over neighbouring
    maps computed as a 1x1 convolution by a fixed 0/1 band matrix (one matrix product on the
    tensor cores) instead of PyTorch's padded ``avg_pool3d`` over a 5-d view, whose backward
    pass is among the slowest kernels of a ZFNet-224 training step.

    ``y = x / (k + alpha / size * sum_{c' in window(c)} x_{c'}^2) ** beta``, the window
    ``c - size // 2 .. c + (size - 1) // 2`` clipped at the first and last map, as PyTorch's.
    An instance *is* an ``nn.LocalResponseNorm`` (the toolkit's type checks hold) and has no
    parameters or buffers, so a model's ``state_dict`` is the same with either. Put in place by
    :func:`use_band_lrn` for training; the committed models keep PyTorch's module.

    Paper: Sec. 3 (contrast normalisation, Krizhevsky et al.'s).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            return super().forward(x)
        c = x.shape[1]
        i = torch.arange(c, device=x.device)
        d = i[None, :] - i[:, None]  # [out, in]: in - out
        band = ((d >= -(self.size // 2)) & (d <= (self.size - 1) // 2)).to(x.dtype)
        s = torch.nn.functional.conv2d(x * x, band[:, :, None, None])
        return x / s.mul(self.alpha / self.size).add(self.k).pow(self.beta)


def use_band_lrn(model: nn.Module) -> nn.Module:
    """Replace every ``nn.LocalResponseNorm`` of ``model`` by an equal :class:`BandLRN`, in
    place (same constants; nothing in the ``state_dict`` changes); returns ``model``."""
    for parent in list(model.modules()):
        for name, m in parent.named_children():
            if type(m) is nn.LocalResponseNorm:
                setattr(parent, name, BandLRN(m.size, m.alpha, m.beta, m.k))
    return model


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class ConvNet(nn.Module):
    """ZFNet or AlexNet (``features`` then ``classifier``) with optional Table 3 ablations.

    Args:
        arch: ``"zfnet"`` or ``"alexnet"``.
        num_classes: width of the output layer (1000 for ImageNet, 200 for Tiny ImageNet).
        size: 224 (the paper's geometry) or 64 (Tiny ImageNet; 56-pixel input).
        ablation: a key of :data:`ABLATIONS`.
        dropout: dropout rate before fc6 and fc7 (paper: 0.5).

    Paper: Fig. 3 (ZFNet), Sec. 4.1 (AlexNet), Table 3 (ablations).

    Note: AlexNet here is one dense network; Krizhevsky's two-GPU split (sparse connections in
    layers 3-5) is not reproduced, as the paper's own comparison also used a single network.
    """

    def __init__(self, arch: str = "zfnet", *, num_classes: int = 1000, size: int = 224,
                 ablation: str = "none", dropout: float = 0.5) -> None:
        super().__init__()
        if (arch, size) not in _STEM:
            raise ValueError(f"unknown model {arch!r} at size {size}; valid: "
                             f"{sorted(set(a for a, _ in _STEM))} at sizes 224 or 64")
        if ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; valid: {', '.join(ABLATIONS)}")
        if num_classes < 1:
            raise ValueError(f"num_classes {num_classes} out of range 1..")
        self.arch, self.size, self.ablation, self.num_classes = arch, size, ablation, num_classes
        self.input_size = INPUT_SIZE[size]
        (c1, k1, s1, p1), (c2, k2, s2, p2), pool2 = _STEM[(arch, size)]
        widths = (512, 1024, 512) if ablation.startswith("wide345") else (384, 384, 256)
        fc = {"fc2048": 2048, "fc8192": 8192, "wide345_fc8192": 8192}.get(ablation, 4096)

        names: dict[str, int] = {}
        layers: list[nn.Module] = [nn.Conv2d(3, c1, k1, s1, p1), nn.ReLU(inplace=True)]
        names["conv1"] = 1
        layers += [_pool(), _lrn(), nn.Conv2d(c1, c2, k2, s2, p2), nn.ReLU(inplace=True)]
        names["conv2"] = len(layers) - 1
        if pool2:
            layers.append(_pool())
        layers.append(_lrn())
        cin = c2
        keep34 = ablation not in ("no34", "no3467")
        for i, width in enumerate(widths[:2] if keep34 else []):
            layers += [nn.Conv2d(cin, width, 3, 1, 1), nn.ReLU(inplace=True)]
            names[f"conv{3 + i}"] = len(layers) - 1
            cin = width
        layers += [nn.Conv2d(cin, widths[2], 3, 1, 1), nn.ReLU(inplace=True)]
        names["conv5"] = len(layers) - 1
        layers.append(_pool())
        self.features = nn.Sequential(*layers)
        self.feature_names = names

        with torch.no_grad():
            n = self.features(torch.zeros(1, 3, self.input_size, self.input_size)).numel()
        self.fc6_in = n
        cls: list[nn.Module] = []
        cnames: dict[str, int] = {}
        hidden = {"none": (fc, fc), "no7": (fc,), "no67": (), "no3467": ()}
        for i, width in enumerate(hidden.get(ablation, (fc, fc))):
            cls += [nn.Dropout(dropout), nn.Linear(n, width), nn.ReLU(inplace=True)]
            cnames[f"fc{6 + i}"] = len(cls) - 1
            n = width
        cls.append(nn.Linear(n, num_classes))
        cnames["fc8"] = len(cls) - 1
        self.classifier = nn.Sequential(*cls)
        self.classifier_names = cnames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"input of {tuple(x.shape[-2:])} pixels; this {self.arch}-"
                             f"{self.size} takes {self.input_size}x{self.input_size}")
        return self.classifier(torch.flatten(self.features(x), 1))

    @property
    def layer_names(self) -> list[str]:
        """The layers present, in order (``conv1``.., ``fc6``.., ``fc8``)."""
        return list(self.feature_names) + list(self.classifier_names)

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def describe(self) -> dict[str, object]:
        """What identifies the architecture (stored in checkpoints and checked on load)."""
        return {"arch": self.arch, "size": self.size, "ablation": self.ablation,
                "num_classes": self.num_classes}


def layer_module(model: ConvNet, name: str) -> nn.Module:
    """The module whose output is layer ``name`` (``conv1``..``conv5``, ``fc6``..``fc8``)."""
    if name in model.feature_names:
        return model.features[model.feature_names[name]]
    if name in model.classifier_names:
        return model.classifier[model.classifier_names[name]]
    raise ValueError(f"layer {name!r} not in this model; valid: {', '.join(model.layer_names)}")


def layer_name(model: ConvNet, layer: int | str) -> str:
    """Accept ``3`` or ``"conv3"`` (``6`` means ``fc6``); return the name, checked."""
    if isinstance(layer, int):
        if not 1 <= layer <= 8:
            raise ValueError(f"layer {layer} out of range 1..8")
        layer = f"conv{layer}" if layer <= 5 else f"fc{layer}"
    layer_module(model, layer)
    return layer


INITS: tuple[str, ...] = ("normal", "kaiming")  # the schemes of init_weights


def init_weights(model: nn.Module, scheme: str) -> None:
    """Initialise in place. ``normal``: the paper's N(0, 1e-2) weights (std 0.01), biases 0
    (Sec. 3). ``kaiming``: He-normal (fan-in, ReLU gain), biases 0."""
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; valid: {', '.join(INITS)}")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 1e-2)
            else:
                fan_in = m.weight[0].numel()
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            nn.init.zeros_(m.bias)


def build_model(arch: str = "zfnet", *, num_classes: int = 1000, size: int = 224,
                ablation: str = "none", dropout: float = 0.5,
                init: str | None = None) -> ConvNet:
    """Build a :class:`ConvNet`; ``init`` (``normal`` | ``kaiming``) re-initialises it."""
    model = ConvNet(arch, num_classes=num_classes, size=size, ablation=ablation, dropout=dropout)
    if init is not None:
        init_weights(model, init)
    return model


def model_from_config(cfg: Config) -> ConvNet:
    """The model a :class:`zflib.config.Config` describes, initialised by its recipe; with
    ``cfg.first_layer_std > 0`` conv1's weights are then drawn from N(0, first_layer_std^2)
    instead (the paper's 1e-2 for conv1 alone: its filters then start near zero and what
    they show is learned, not left over from the initialisation; Sec. 3, Fig. 6)."""
    model = build_model(cfg.arch, num_classes=cfg.num_classes, size=cfg.size,
                        ablation=cfg.ablation, dropout=cfg.dropout, init=cfg.init)
    std = cfg.first_layer_std
    if std < 0:
        raise ValueError(f"first_layer_std {std} out of range: 0 (the recipe's init) or > 0")
    if std > 0:
        nn.init.normal_(model.conv_layers()[0].weight, 0.0, std)
    return model


def initial_model(cfg: Config) -> ConvNet:
    """``cfg``'s model with its seeded initial weights: what :class:`zflib.training.train.Trainer`
    starts from (on every rank), and what :mod:`zflib.methods.filters` rebuilds to regress out.

    The caller's random state is left as it was (the seed is set in a fork of it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return model_from_config(cfg)


@torch.no_grad()
def renormalize_filters(model: nn.Module, radius: float = 0.1) -> torch.Tensor:
    """Rescale every conv filter whose RMS exceeds ``radius`` back to RMS ``radius``.

    Returns the number of filters rescaled as a 0-d tensor. Paper: Sec. 3 ("each filter in
    the convolutional layers whose RMS value exceeds a fixed radius of 1e-1 is renormalized to
    this fixed radius").

    Note: runs after every step, so it is kept cheap: per-filter norms come from one fused
    ``_foreach_norm`` over contiguous filter views; on the CPU only the filters over the
    radius are touched; on a GPU all are scaled (by 1 or less) and the count summed there, to
    avoid a synchronisation.
    """
    # the count stays on the weights' device: a CPU tensor moved to the GPU would wait for it
    count: torch.Tensor | None = None
    for m in model.modules():
        if not isinstance(m, nn.Conv2d):
            continue
        w = m.weight
        if w.device.type == "cpu":
            norms = torch.stack(torch._foreach_norm(list(w.unbind(0))))
        else:  # one reduction per layer: launching 1,376 views' norms costs more than it does
            norms = torch.linalg.vector_norm(w.flatten(1), dim=1)
        rms = norms / math.sqrt(w[0].numel())
        over = rms > radius
        scale = radius / rms.clamp_min(radius)  # 1 where within the radius
        if w.device.type == "cpu":
            idx = over.nonzero().flatten()
            if len(idx):
                w[idx] = w[idx] * scale[idx].view(-1, 1, 1, 1).to(w.dtype)
        else:
            w.mul_(scale.view(-1, 1, 1, 1).to(w.dtype))
        count = over.sum() if count is None else count + over.sum().to(count.device)
    return count if count is not None else torch.zeros((), dtype=torch.long)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block ``model`` is in eval mode (dropout off); on exit every submodule's
    own mode is put back, also when the block raises."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


_F = TypeVar("_F", bound=Callable)


def in_eval_mode(fn: _F) -> _F:
    """Decorator: run ``fn(model, ...)`` under :func:`eval_mode` of its first argument."""
    @functools.wraps(fn)
    def run(model: nn.Module, *args: object, **kwargs: object) -> object:
        with eval_mode(model):
            return fn(model, *args, **kwargs)
    return run  # type: ignore[return-value]
