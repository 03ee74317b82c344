"""The deconvnet: project feature-map activations back to pixel space.

A deconvnet is attached to every conv layer (Sec. 2.1, Fig. 1): starting from a layer's
activations with all but the chosen ones set to zero, it repeatedly

1. **unpools** with the *switches* (argmax locations) recorded by the forward pass,
2. **rectifies** the signal (ReLU of the signal itself, not of the forward activation),
3. **filters** with the transposed filters of the same layer (``conv_transpose2d``),

down to the input pixels. The result is a [3, S, S] image per projection.

Three choices the paper leaves open, made here on purpose:

- **Overlapping pooling** (3x3, stride 2): one input can be the switch of two windows.
  ``unpool="sum"`` (default) adds both contributions: it is the adjoint ("transpose") of
  max-pooling, and what autograd and captum compute. ``unpool="overwrite"`` keeps one of them,
  as ``nn.MaxUnpool2d`` does; which one MaxUnpool2d keeps is unspecified (on the CPU it
  varies), so here it is, deterministically, the last window in raster order, even when that
  window carries zero.
- **Contrast normalisation** (LRN): ``lrn="skip"`` (default; used by all figures) passes the
  signal through unchanged, as the paper's description of the deconvnet (unpool, rectify,
  filter) has no normalisation step; ``lrn="jacobian"`` multiplies by the transposed Jacobian
  of the LRN at the forward input (what autograd and captum compute).
- **Biases** are ignored on the way down: transposed filtering applies the weights only.

The backward rule at a ReLU is an argument of every projection, ``rule="deconvnet"`` (the
paper's: rectify the signal), ``"guided"`` (guided backprop: rectify it and keep it where the
forward input was positive) or ``"gradient"`` (keep it where the forward input was positive:
the gradient); everything else is shared (:mod:`zflib.methods.deconv_steps`). Guided backprop
and the gradient take the LRN's Jacobian (``lrn=None``, the default, picks each rule's own;
``lrn="skip"`` is the deconvnet's alone, and so is ``unpool="overwrite"``); the ReLU masks
they need come from one more forward pass of the traced images, on their first projection.

Public API (all inputs are network inputs ``x`` [N, 3, S, S] as the model takes them):

- ``project(model, x, layer, *, maps, positions=None, images=None, rule="deconvnet",
  unpool="sum", lrn=None) -> [K, 3, S, S]``: K projections in one batched call. ``maps`` [K]; with
  ``positions`` [K, 2] (y, x) each projects one activation (starting from its own value, the
  other activations of the layer zero), without, the whole feature map ``maps[k]``.
  ``images`` [K] picks the image of each projection (default: 0 if N == 1, else ``arange(K)``).
- ``project_strongest(model, x, layer, *, maps=None) -> Strongest``: the explorer's call; the
  strongest activation of every (or each chosen) map of one image, projected.
- ``project_logit(model, x, targets, *, rule) -> [N, 3, S, S]``: each image's class logit
  projected back to the pixels, from 1 (the classifier's linear layers transposed, its ReLUs by
  the rule, then the chain): captum's ``Saliency`` (``abs=False``), ``GuidedBackprop`` or
  ``Deconvolution`` with a target.
- ``forward_trace(model, x, layers) -> Trace``: one forward pass (stopping at the deepest
  layer) recording switches; ``trace.project(layer, ...)`` then shares it among any number of
  projections of any recorded layer.
- ``pool_with_switches`` / ``unpool``: the unpooling step alone (Fig. 1).

Models, the fast path (this module): :class:`zflib.training.models.ConvNet` (ZFNet, AlexNet, both
geometries) and any network whose ``features`` (or itself, or the chain named by
:func:`chain`: ``chain(model, features=model.body)`` or a list of module names) is an
``nn.Sequential`` of Conv2d, ReLU (in-place or not), MaxPool2d, LocalResponseNorm,
BatchNorm2d in eval mode (folded into the Conv2d before it: exact), Dropout and Identity (passed
through), such as torchvision's ``alexnet``, ``vgg16`` and ``vgg16_bn``. Layers are named
``conv1``..``convN`` (the ReLU after each conv) or by the model's own module names
(``features.6``); a ``ConvNet`` uses its ``feature_names``. No hook is ever registered on the
model.

Every other model or layer (residual additions, concatenations, any DAG: ResNet, DenseNet) is
projected by :mod:`zflib.methods.deconv_general` with the same rules: :func:`forward_trace`,
:func:`project` and :func:`project_strongest` dispatch by :func:`uses_chain`, and its trace
projects alike (``unpool="sum"`` only). A ``conv{i}`` beyond a module the chain cannot hold
raises a ``ValueError`` naming the module and the module names that reach the general path.

Speed: one forward pass per image, stopped at the layer, is shared by all projections of the
image; each projection is computed only over its receptive field at every level (a window
clipped to the feature map; with ``unpool="overwrite"`` the whole map, see ``_project``); the
parts of the LRN Jacobian that depend on the forward input alone are computed once per trace.

Paper: Sec. 2.1, Fig. 1.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from zflib.methods import deconv_general
from zflib.methods.activations import layer_list
from zflib.methods.deconv_steps import (
    LRN,
    RULES,
    UNPOOL,
    Ints,
    as_indices,
    check_indices,
    check_projection,
    check_rule,
    relu_backward,
)
from zflib.methods.deconv_steps import conv_transpose as _conv_transpose

SUPPORTED = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.LocalResponseNorm)
PASSED = (nn.Dropout, nn.Dropout2d, nn.Identity)  # identities in eval mode
FOLDED = nn.BatchNorm2d  # folded into the Conv2d right before it


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Op:
    """One module of ``features`` with its geometry (kernel, stride, padding, dilation)."""

    index: int
    kind: str  # conv | relu | pool | lrn | identity (Dropout, Identity, a folded BatchNorm2d)
    module: nn.Module
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False


class Chain(nn.Module):
    """``model`` with its convolutional chain named explicitly: ``features`` (an
    ``nn.Sequential`` of the model's own modules, no copies) for the fast path, ``forward``
    the model's own. Build with :func:`chain`."""

    def __init__(self, model: nn.Module, features: nn.Sequential) -> None:
        super().__init__()
        self.net, self.features = model, features
        for attr in ("input_size", "num_classes"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def chain(model: nn.Module, *, features: nn.Sequential | Sequence[str]) -> Chain:
    """``model`` whose chain of Conv2d, ReLU, MaxPool2d, LRN, BatchNorm2d, Dropout is
    ``features``: one of its ``nn.Sequential`` (``features=model.body``) or a list of its
    module names in the order the forward pass runs them (``["stem.conv", "stem.relu",
    "blocks.0.conv", ...]``). Every :mod:`zflib` function then takes it on the fast path;
    layers are ``conv1``.. or the model's own module names.

    Paper: Sec. 2.1 (the deconvnet attached to each layer of a chain).
    """
    mods = dict(model.named_modules())
    if isinstance(features, nn.Sequential):
        if not any(features is m for m in mods.values()):
            raise ValueError("features is not a module of the model; give one of its own "
                             "nn.Sequential (features=model.body)")
        return Chain(model, features)
    names = list(layer_list(features))
    bad = [n for n in names if n not in mods or not n]
    if bad or not names:
        raise ValueError(f"module {bad[0] if bad else None!r} not in {type(model).__name__}; "
                         "valid: " + ", ".join(n for n in mods if n))
    return Chain(model, nn.Sequential(*(mods[n] for n in names)))


def features_of(model: nn.Module) -> nn.Sequential:
    """``model.features`` (also of an ``nn.Sequential`` with a ``features`` child, or a
    :class:`Chain`), else ``model`` itself if it is an ``nn.Sequential``."""
    feats = getattr(model, "features", None)
    if isinstance(feats, nn.Sequential):
        return feats
    if isinstance(model, nn.Sequential):
        return model
    raise ValueError(f"{type(model).__name__} has no `features` nn.Sequential; name its "
                     "chain with zflib.methods.deconv.chain(model, features=...), or give a layer "
                     "by its module name (the general path)")


def own_names(model: nn.Module) -> dict[str, int]:
    """The model's own module names of ``features``' modules -> their index (``features.3``;
    a :class:`Chain`: the wrapped model's names), for those whose output the fast path
    computes (not a Conv2d whose BatchNorm2d is folded into it)."""
    root = model.net if isinstance(model, Chain) else model
    where = {id(m): n for n, m in root.named_modules() if n}
    feats = features_of(model)
    out = {}
    for i, m in enumerate(feats):
        folded = isinstance(m, nn.Conv2d) and i + 1 < len(feats) and \
            isinstance(feats[i + 1], FOLDED)
        if id(m) in where and not folded:
            out[where[id(m)]] = i
    return out


def layer_indices(model: nn.Module) -> dict[str, int]:
    """Layer name (``conv1``..) -> index in ``features`` of the module that outputs it.

    A :class:`zflib.training.models.ConvNet` gives its ``feature_names``; otherwise the i-th Conv2d
    is ``conv{i}`` and its output is the ReLU right after it (past a BatchNorm2d, Dropout or
    Identity; or the last of those, or the conv, if no ReLU follows).
    """
    names = getattr(model, "feature_names", None)
    if isinstance(names, dict):
        return dict(names)
    feats = features_of(model)
    out, n = {}, 0
    for i, m in enumerate(feats):
        if isinstance(m, nn.Conv2d):
            n += 1
            j = i
            while j + 1 < len(feats) and isinstance(feats[j + 1], (FOLDED, *PASSED)):
                j += 1
            out[f"conv{n}"] = j + 1 if j + 1 < len(feats) and \
                isinstance(feats[j + 1], nn.ReLU) else j
    return out


def chain_indices(model: nn.Module) -> dict[str, int]:
    """:func:`layer_indices` and :func:`own_names` together: every layer name the fast path
    takes -> index in ``features``."""
    return {**own_names(model), **layer_indices(model)}


def layer_names(model: nn.Module) -> list[str]:
    """The layers numbered ``1..`` for ``model``: ``conv1``.. of a chain, else the stages
    of :func:`zflib.methods.deconv_general.default_layers` (ResNet: ``conv1``, ``layer1``..)."""
    try:
        names = list(layer_indices(model))
    except ValueError:
        names = []
    if names and uses_chain(model, names[-1]):
        return names
    return deconv_general.default_layers(model)


def uses_chain(model: nn.Module, layers: int | str | Iterable[int | str]) -> bool:
    """Whether the fast path (a plain chain, op by op) projects ``layers`` of ``model``;
    otherwise :mod:`zflib.methods.deconv_general` does. ``ValueError`` when a layer is only a
    ``conv{i}`` beyond a module the chain cannot hold (naming it)."""
    try:
        feats = features_of(model)
        idx = chain_indices(model)
    except ValueError:
        return False
    names = []
    for la in layer_list(layers):
        if isinstance(la, numbers.Integral) and not isinstance(la, bool):
            la = f"conv{int(la)}"
        if la not in idx:
            return False
        names.append(la)
    if not names:
        return bool(idx)
    try:
        _ops(feats, max(idx[n] for n in names))
    except ValueError as err:
        if all(n in deconv_general.module_names(model) for n in names):
            return False
        if "training mode" in str(err):
            raise
        raise ValueError(f"{err}; give the layer by its module name to project it through "
                         "the general path (e.g. " + ", ".join(
                             deconv_general.default_layers(model)[-2:]) + ")") from None
    return True


def weights_of(model: nn.Module) -> list[torch.Tensor]:
    """The tensors a mining result depends on, in a fixed order (a cache key's): the chain's
    ``features`` state, or the whole model's when it is not a chain."""
    try:
        state = features_of(model).state_dict()
    except ValueError:
        state = model.state_dict()
    return [t.reshape(1) if t.dim() == 0 else t for _, t in sorted(state.items())]


def resolve_layers(model: nn.Module, layers: int | str | Iterable[int | str]) -> list[str]:
    """:func:`resolve_layer` of each of ``layers``, or of one layer given alone
    (:func:`zflib.methods.activations.layer_list`)."""
    return [resolve_layer(model, la) for la in layer_list(layers)]


def network_input(x: torch.Tensor, model: nn.Module, *, what: str = "x",
                  non_blocking: bool = False) -> torch.Tensor:
    """``x`` on ``model``'s device and in its dtype (float64 inputs to a float32 model);
    integer pixels are refused, since a cast would take 0..255 for network inputs, and so
    are images of another size than a model's ``input_size`` (its classifier, and the
    positions :mod:`zflib.methods.topk` records, hold for that size only)."""
    if not x.is_floating_point():
        raise ValueError(f"{what} holds {x.dtype} values; want floating network inputs "
                         "(zflib.data.to_input)")
    want = getattr(model, "input_size", None)  # S, (H, W), or None: any size
    if isinstance(want, int):
        want = (want, want)
    if want is not None and tuple(x.shape[-2:]) != tuple(want):
        raise ValueError(f"{what} has images of {tuple(x.shape[-2:])} pixels; this model "
                         f"takes {want[0]}x{want[1]}")
    param = next(model.parameters())
    return x.to(param.device, param.dtype, non_blocking=non_blocking)


def resolve_layer(model: nn.Module, layer: int | str) -> str:
    """``3`` or ``"conv3"`` -> ``"conv3"``, checked against the model's conv layers; a
    module name of the chain (``"features.3"``) is itself; a model that is not a chain
    resolves by :func:`zflib.methods.deconv_general.resolve_layer`."""
    try:
        names, convs = chain_indices(model), layer_indices(model)
    except ValueError:
        return deconv_general.resolve_layer(model, layer)
    if isinstance(layer, str) and layer not in names and \
            layer in deconv_general.module_names(model):
        return layer
    if not convs:  # no Conv2d at the chain's top level: the model's own stages
        try:
            return deconv_general.resolve_layer(model, layer)
        except ValueError:
            pass
        kinds = ", ".join(sorted({type(m).__name__ for m in features_of(model)})) or "nothing"
        raise ValueError(f"{type(model).__name__}'s features hold no Conv2d (found: {kinds}; "
                         "nested blocks are not searched)")
    if isinstance(layer, numbers.Integral) and not isinstance(layer, bool):
        layer = int(layer)  # numpy's integers too
    if isinstance(layer, bool) or not isinstance(layer, (int, str)):
        raise ValueError(f"layer {layer!r} is neither a number nor a name; valid: "
                         + ", ".join(names))
    if isinstance(layer, int):
        if not 1 <= layer <= len(convs):
            raise ValueError(f"layer {layer} out of range 1..{len(convs)}")
        name = f"conv{layer}"
        if name not in convs:
            raise ValueError(f"layer {layer} ({name}) not in this model; valid: "
                             + ", ".join(convs))
        return name
    if layer not in names:
        raise ValueError(f"layer {layer!r} not in this model; valid: " + ", ".join(convs)
                         + " or a module name (" + ", ".join(list(own_names(model))[:3])
                         + ", ...)")
    return layer


class _Folded(nn.Module):
    """A Conv2d with the eval-mode BatchNorm2d after it folded in (exact): weights scaled by
    ``gamma / sqrt(var + eps)`` per output map, bias ``(b - mean) * scale + beta``."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        with torch.no_grad():
            scale = (bn.running_var + bn.eps).rsqrt()
            if bn.weight is not None:
                scale = scale * bn.weight
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            self.weight = (conv.weight * scale.view(-1, 1, 1, 1)).detach()
            self.bias = ((bias - bn.running_mean) * scale).detach()
            if bn.bias is not None:
                self.bias += bn.bias
        self.conv = conv
        self.groups, self.in_channels, self.out_channels = \
            conv.groups, conv.in_channels, conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv2d(x, self.weight, self.bias, c.stride, c.padding, c.dilation, c.groups)


def _ops(feats: nn.Sequential, upto: int) -> list[Op]:
    """The ops of ``feats[0..upto]``: each BatchNorm2d folded into the Conv2d before it,
    Dropout and Identity as identities. ``ValueError`` naming the first module that cannot
    be (BatchNorm2d in training mode, or not right after a Conv2d, too)."""
    ops = []
    for i in range(upto + 1):
        m = feats[i]
        if isinstance(m, PASSED):
            if m.training and not isinstance(m, nn.Identity):
                raise ValueError(f"features[{i}] is a {type(m).__name__} in training mode; "
                                 "call model.eval() before projecting")
            ops.append(Op(i, "identity", m))
        elif isinstance(m, FOLDED):
            if not ops or ops[-1].kind != "conv" or ops[-1].index != i - 1:
                raise ValueError(f"features[{i}] is a BatchNorm2d not right after a Conv2d; "
                                 "the fast path folds it into the convolution before it")
            if m.training or m.running_var is None:
                raise ValueError(f"features[{i}] is a BatchNorm2d in training mode (or "
                                 "without running statistics); call model.eval() first")
            ops[-1] = dataclasses.replace(ops[-1], module=_Folded(ops[-1].module, m))
            ops.append(Op(i, "identity", m))
        else:
            ops.append(_op(i, m))
    return ops


def _op(i: int, m: nn.Module) -> Op:
    if not isinstance(m, SUPPORTED):
        raise ValueError(f"features[{i}] is {type(m).__name__}; the fast path supports "
                         "Conv2d, ReLU, MaxPool2d, LocalResponseNorm, BatchNorm2d (folded), "
                         "Dropout and Identity")
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            raise ValueError(f"features[{i}] is a Conv2d with padding {m.padding!r}, mode "
                             f"{m.padding_mode!r}; the deconvnet supports integer zero padding")
        return Op(i, "conv", m, _pair(m.kernel_size), _pair(m.stride), _pair(m.padding),
                  _pair(m.dilation))
    if isinstance(m, nn.MaxPool2d):
        if _pair(m.dilation) != (1, 1):
            raise ValueError(f"features[{i}] is a MaxPool2d with dilation {m.dilation}; "
                             "the deconvnet supports dilation 1")
        stride = m.stride if m.stride is not None else m.kernel_size
        return Op(i, "pool", m, _pair(m.kernel_size), _pair(stride), _pair(m.padding),
                  (1, 1), bool(m.ceil_mode))
    return Op(i, "relu" if isinstance(m, nn.ReLU) else "lrn", m)


def feature_ops(model: nn.Module, layer: int | str) -> list[Op]:
    """The ops of ``features`` from the input up to and including ``layer``'s output module.

    Raises ``ValueError`` naming the first unsupported module on the way.
    """
    name = resolve_layer(model, layer)
    return _ops(features_of(model), chain_indices(model)[name])


class Strongest(NamedTuple):
    """The strongest activation of each map of one image, and its projection."""

    pixels: torch.Tensor  # [M, 3, S, S] projections
    maps: torch.Tensor  # [M] map indices
    positions: torch.Tensor  # [M, 2] (y, x) of the strongest activation (first in raster order)
    values: torch.Tensor  # [M] its value


# Projections computed together by default. Each carries a signal as large as its receptive
# field at every level, so a batch of 128 at layer 5 of ZFNet-64 moves tens of MB per op; 32
# keeps it in the CPU's caches: all maps of layers 1-5 of one image in 0.80 s against 1.17 s
# with 128 (one thread; 16: 0.83 s, 8: 0.91 s). On a GPU larger batches pay.
PROJECTION_BATCH = 32


@dataclass
class Trace:
    """One forward pass up to the deepest of some layers: what projections need.

    Build with :func:`forward_trace`; project with :meth:`project`.
    """

    ops: list[Op]
    acts: dict[str, torch.Tensor]  # layer -> activations [N, C, H, W]
    op_of: dict[str, int]  # layer -> position in ops of its output module
    in_sizes: list[tuple[int, int]]  # spatial size of each op's input
    switches: dict[int, torch.Tensor] = field(default_factory=dict)  # op pos -> [N, C, Ho, Wo]
    lrn_inputs: dict[int, torch.Tensor] = field(default_factory=dict)  # op pos -> [N, C, H, W]
    in_channels: int = 3
    switch_rc: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    lrn_factors: dict[int, tuple[torch.Tensor, ...]] = field(default_factory=dict)
    x: torch.Tensor | None = None  # the traced inputs [N, C, S, S]
    # op pos of a ReLU -> its forward input > 0 [N, C, H, W] (bool): what guided backprop and
    # the gradient need; made on their first projection by one more forward pass
    relu_masks: dict[int, torch.Tensor] = field(default_factory=dict)

    def relu_mask(self, i: int) -> torch.Tensor:
        """Where the input of the ReLU at op position ``i`` was positive, [N, C, H, W] bool."""
        if not self.relu_masks:
            with torch.no_grad():
                h = self.x
                for j, op in enumerate(self.ops[:max(self.op_of.values()) + 1]):
                    h = step(op, h)
                    if op.kind == "relu":
                        self.relu_masks[j] = h > 0
        return self.relu_masks[i]

    def _layer(self, layer: int | str) -> str:
        name = f"conv{int(layer)}" if isinstance(layer, numbers.Integral) and \
            not isinstance(layer, bool) else layer
        if name not in self.acts:
            raise ValueError(f"layer {layer!r} not traced; traced: {', '.join(self.acts)}")
        return name

    def project(self, layer: int | str, maps: Ints, positions: Ints | None = None,
                images: Ints | None = None, *, rule: str = "deconvnet",
                unpool: str = "sum", lrn: str | None = None,
                batch_size: int | None = None) -> torch.Tensor:
        """Project K activations (``positions`` [K, 2]) or K whole maps (``positions=None``).

        Args:
            layer: a traced layer (``"conv5"`` or ``5``).
            maps: [K] map indices.
            positions: [K, 2] (y, x) in the layer's map, or None for whole maps.
            images: [K] indices into the traced batch; default 0 if it holds one image, else
                ``arange(K)``.
            rule: the backward rule at a ReLU, ``"deconvnet"`` (default), ``"guided"`` or
                ``"gradient"`` (:mod:`zflib.methods.deconv_steps`).
            unpool: ``"sum"`` (adjoint, default) or ``"overwrite"`` (``nn.MaxUnpool2d``; the
                deconvnet only).
            lrn: ``"skip"`` or ``"jacobian"``; None (default): the rule's own (the
                deconvnet skips, the others take the Jacobian and refuse ``"skip"``).
            batch_size: projections computed together (bounds memory; default
                ``PROJECTION_BATCH``, which suits a CPU).

        Returns:
            [K, 3, S, S] projections in input space (biases ignored).

        Paper: Sec. 2.1, Fig. 1.
        """
        name = self._layer(layer)
        act = self.acts[name]
        maps, positions, images = check_projection(act, name, maps, positions, images)
        k = len(maps)
        lrn = check_rule(rule, lrn, unpool)
        batch_size = PROJECTION_BATCH if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size} out of range 1..")
        outs = []
        for s in range(0, k, batch_size):
            sl = slice(s, s + batch_size)
            outs.append(_project(self, name, maps[sl], None if positions is None
                                 else positions[sl], images[sl], rule=rule, unpool=unpool,
                                 lrn=lrn, full=unpool == "overwrite"))
        if not outs:
            s0 = self.in_sizes[0]
            return act.new_zeros(0, self.in_channels, *s0)
        return torch.cat(outs)

    def strongest(self, layer: int | str, image: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions [C, 2], values [C]) of each map's strongest activation in ``image``
        (the first in raster order on ties)."""
        return deconv_general.strongest_units(self.acts[self._layer(layer)], image)


@torch.no_grad()
def forward_trace(model: nn.Module, x: torch.Tensor, layers: str | int | Sequence = "conv5",
                  *, relu_masks: bool = False) -> Trace | deconv_general.GeneralTrace:
    """Run ``features`` on ``x`` [N, 3, S, S] up to the deepest of ``layers``, recording the
    pooling switches, the LRN inputs and the activations of ``layers`` (with ``relu_masks``,
    also where each ReLU's input was positive, which guided backprop and the gradient need:
    else one more forward pass makes them on their first projection).

    A model (or layer) that is no plain chain (:func:`uses_chain`) is traced by
    :func:`zflib.methods.deconv_general.forward_trace`, whose trace projects alike.

    Paper: Sec. 2.1 ("switch" variables recorded during the forward pass).
    """
    names = resolve_layers(model, layers)
    if not names:
        raise ValueError("layers is empty; give at least one of "
                         + ", ".join(layer_names(model)))
    if x.dim() != 4:
        raise ValueError(f"x has shape {tuple(x.shape)}; want [N, C, S, S]")
    if not uses_chain(model, names):  # (its ReLU masks are always made on first use)
        return deconv_general.forward_trace(model, network_input(x, model), names)
    idx = chain_indices(model)
    deepest = max(names, key=lambda nm: idx[nm])
    ops = feature_ops(model, deepest)
    x = network_input(x, model)
    op_of = {nm: idx[nm] for nm in names}
    record: dict[int, list[str]] = {}
    for nm, i in op_of.items():
        record.setdefault(i, []).append(nm)
    tr = Trace(ops=ops, acts={}, op_of=op_of, in_sizes=[], in_channels=x.shape[1], x=x)
    h = x
    for i, op in enumerate(ops):
        tr.in_sizes.append((h.shape[-2], h.shape[-1]))
        if op.kind == "pool":
            h, sw = F.max_pool2d(h, op.kernel, op.stride, op.padding, op.dilation,
                                 ceil_mode=op.ceil_mode, return_indices=True)
            tr.switches[i] = sw
        else:
            if op.kind == "lrn":
                tr.lrn_inputs[i] = h
            h = step(op, h)
            if relu_masks and op.kind == "relu":
                tr.relu_masks[i] = h > 0
        for nm in record.get(i, ()):
            tr.acts[nm] = h
    return tr


def step(op: Op, h: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """One op of the chain's forward pass (a ReLU in place if ``inplace``)."""
    if op.kind == "relu":
        return torch.relu_(h) if inplace else torch.relu(h)
    if op.kind == "pool":
        return F.max_pool2d(h, op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode)
    if op.kind == "identity":
        return h
    return op.module(h)


def project(model: nn.Module, x: torch.Tensor, layer: int | str, *, maps: Ints,
            positions: Ints | None = None, images: Ints | None = None,
            rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
            batch_size: int | None = None) -> torch.Tensor:
    """Deconvnet projections of K activations or K whole maps of ``layer``, batched (or, by
    ``rule``, guided backprop's or the gradient's).

    Args:
        model: see the module docstring (eval mode is the caller's business).
        x: [N, 3, S, S] network inputs.
        layer: ``"conv1"``.. or its number.
        maps: [K] map indices.
        positions: [K, 2] (y, x) to project single activations, each starting from its own
            value with every other activation of the layer zero; None: whole maps.
        images: [K] indices into ``x`` (default 0 if N == 1, else ``arange(K)``).
        rule: ``"deconvnet"`` (default), ``"guided"`` or ``"gradient"``: the backward rule at
            a ReLU (:mod:`zflib.methods.deconv_steps`).
        unpool: ``"sum"`` (default, the adjoint) or ``"overwrite"`` (``nn.MaxUnpool2d``; the
            deconvnet only).
        lrn: ``"skip"`` or ``"jacobian"``; None (default): the rule's own (the deconvnet
            skips, guided backprop and the gradient take the Jacobian).
        batch_size: projections computed together (default: the path's own, see
            ``PROJECTION_BATCH`` and :meth:`zflib.methods.deconv_general.GeneralTrace.project`).

    Returns:
        [K, 3, S, S]. ``ValueError`` for an out-of-range layer, map, position or image.

    Paper: Sec. 2.1, Fig. 1.
    """
    return forward_trace(model, x, layer, relu_masks=rule != "deconvnet").project(
        layer, maps, positions, images, rule=rule, unpool=unpool, lrn=lrn,
        batch_size=batch_size)


def project_strongest(model: nn.Module, x: torch.Tensor, layer: int | str, *, maps=None,
                      rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
                      batch_size: int | None = None) -> Strongest:
    """Project the strongest activation of each of ``maps`` (default: all) of one image.

    Args:
        x: [3, S, S] or [1, 3, S, S].
        rule, unpool, lrn, batch_size: as :func:`project`.

    Returns:
        :class:`Strongest` (pixels [M, 3, S, S], maps, positions [M, 2], values).

    Paper: Sec. 2.1, Fig. 2 (one image's share of it).
    """
    if x.dim() not in (3, 4):
        raise ValueError(f"x has shape {tuple(x.shape)}; want one image [3, S, S] or "
                         "[1, 3, S, S]")
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.shape[0] != 1:
        raise ValueError(f"x holds {x.shape[0]} images; project_strongest takes one")
    tr = forward_trace(model, x, layer, relu_masks=rule != "deconvnet")
    pos, val = tr.strongest(layer)
    c = len(val)
    maps = torch.arange(c) if maps is None else as_indices(maps, "maps", pos.device).reshape(-1)
    check_indices(maps, c, "map", f" of {resolve_layer(model, layer)}")
    pix = tr.project(layer, maps, pos[maps], rule=rule, unpool=unpool, lrn=lrn,
                     batch_size=batch_size)
    return Strongest(pix, maps, pos[maps], val[maps])


CLASSIFIER = (nn.Linear, nn.ReLU, nn.Dropout, nn.Identity)  # what project_logit passes back


def _logit_chain(model: nn.Module) -> bool:
    """Whether :func:`project_logit` runs on the fast path: a :class:`ConvNet` (ZFNet, AlexNet:
    ``classifier(flatten(features(x)))``) whose classifier holds Linear, ReLU, Dropout."""
    from zflib.training.models import ConvNet

    return isinstance(model, ConvNet) and all(isinstance(m, CLASSIFIER)
                                              for m in model.classifier)


@torch.no_grad()
def project_logit(model: nn.Module, x: torch.Tensor, targets: Ints, *,
                  rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
                  batch_size: int | None = None) -> torch.Tensor:
    """Each image's class logit ``targets[n]`` projected back to the pixels by ``rule``,
    starting from 1 at the logit: the gradient of the logit (``rule="gradient"``, captum's
    ``Saliency`` with ``abs=False``), guided backprop's or the deconvnet's signal
    (``GuidedBackprop``, ``Deconvolution`` with ``target``).

    The classifier's linear layers pass the signal back by their transposed weights, its
    ReLUs by the rule; from the features' output down it is :meth:`Trace.project`'s pass.

    Args:
        x: [N, 3, S, S] network inputs.
        targets: [N] class indices (one number: the same class for every image).
        rule, unpool, lrn, batch_size: as :func:`project`.

    Returns:
        [N, 3, S, S].

    Paper: Sec. 2.1 (the deconvnet; here from the output layer, as Simonyan et al. 2014 do
    for the gradient).

    Note: the fast path takes a :class:`zflib.training.models.ConvNet` (ZFNet, AlexNet); any
    other model is projected by :func:`zflib.methods.deconv_general.project_logit` (plain
    autograd with the rule at every ReLU call; ``unpool="sum"`` only).
    """
    lrn = check_rule(rule, lrn, unpool)
    if x.dim() != 4:
        raise ValueError(f"x has shape {tuple(x.shape)}; want [N, C, S, S]")
    x = network_input(x, model)
    n = len(x)
    targets = as_indices(targets, "targets", x.device).reshape(-1)
    targets = targets.expand(n) if targets.numel() == 1 else targets
    if len(targets) != n:
        raise ValueError(f"{len(targets)} targets for {n} images; want one each")
    if not _logit_chain(model):
        if unpool != "sum":
            raise ValueError(f"unpool {unpool!r}: the general path unpools by the adjoint "
                             "('sum') only")
        return deconv_general.project_logit(model, x, targets, rule=rule, lrn=lrn)
    mods = list(model.classifier)
    for i, m in enumerate(mods):
        if isinstance(m, nn.Dropout) and m.training:
            raise ValueError(f"classifier[{i}] is a Dropout in training mode; call "
                             "model.eval() before projecting")
    feats = features_of(model)
    last = next(nm for nm, i in own_names(model).items() if i == len(feats) - 1)
    tr = forward_trace(model, x, last, relu_masks=rule != "deconvnet")
    act = tr.acts[last]
    h, masks = torch.flatten(act, 1), []
    for m in mods:
        if isinstance(m, nn.ReLU):
            h = torch.relu(h)
            masks.append(h > 0)
        elif isinstance(m, nn.Linear):
            h = m(h)
    check_indices(targets, h.shape[1], "target class")
    g = h.new_zeros(h.shape)
    g[torch.arange(n, device=x.device), targets] = 1.0
    for m in reversed(mods):
        if isinstance(m, nn.Linear):
            g = g @ m.weight
        elif isinstance(m, nn.ReLU):
            relu_backward(rule, g, masks.pop())
    signal = g.view_as(act)
    step = PROJECTION_BATCH if batch_size is None else batch_size
    if step < 1:
        raise ValueError(f"batch_size {step} out of range 1..")
    images = torch.arange(n, device=x.device)
    return torch.cat([_project(tr, last, images[s:s + step], None, images[s:s + step],
                               unpool=unpool, lrn=lrn, full=True, rule=rule,
                               signal=signal[s:s + step].contiguous())
                      for s in range(0, n, step)])


# ----------------------------------------------------------------------------- unpooling


def _scatter(src: torch.Tensor, idx: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Scatter ``src`` [K, C, P] to ``idx`` [K, C, P] in a [K, C, size] zero tensor:
    summing collisions (``sum``) or keeping the last source in order (``overwrite``)."""
    if mode == "overwrite":
        order = torch.arange(src.shape[-1], device=src.device).expand_as(idx)
        winner = torch.full((*src.shape[:2], size), -1, dtype=torch.long, device=src.device)
        winner.scatter_reduce_(2, idx, order, reduce="amax")
        src = src * (winner.gather(2, idx) == order)
    out = src.new_zeros(*src.shape[:2], size)
    return out.scatter_add_(2, idx, src)


def pool_with_switches(x: torch.Tensor, kernel: int = 3, stride: int = 2, *, padding: int = 0,
                       ceil_mode: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Max-pool ``x`` [N, C, H, W]; return (pooled, switches), switches being the flat index
    (``y * W + x``) of each window's maximum (the first in raster order on ties).

    Paper: Sec. 2.1, Fig. 1 (bottom: switches).
    """
    return F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode, return_indices=True)


def unpool(pooled: torch.Tensor, switches: torch.Tensor, size: tuple[int, int], *,
           mode: str = "sum") -> torch.Tensor:
    """Place each pooled value [N, C, h, w] at its switch in a zero [N, C, *size] map.

    ``mode="sum"``: an input that is the switch of several windows receives their sum (the
    adjoint of max-pooling); ``"overwrite"``: it keeps one value, as ``nn.MaxUnpool2d`` does,
    here deterministically the last window's in raster order.

    Paper: Sec. 2.1, Fig. 1 ("Unpooling").
    """
    if mode not in UNPOOL:
        raise ValueError(f"mode {mode!r}; valid: {', '.join(UNPOOL)}")
    if pooled.shape != switches.shape:
        raise ValueError(f"pooled {tuple(pooled.shape)} and switches {tuple(switches.shape)} "
                         "differ in shape")
    n, c = pooled.shape[:2]
    hh, ww = size
    if switches.numel() and (switches.min() < 0 or switches.max() >= hh * ww):
        raise ValueError(f"switch {int(switches.max())} out of range 0..{hh * ww - 1} "
                         f"of a {hh}x{ww} map")
    out = _scatter(pooled.reshape(n, c, -1), switches.reshape(n, c, -1).long(), hh * ww, mode)
    return out.view(n, c, hh, ww)


# ----------------------------------------------------------------------------- projection


def _channel_window_sum(t: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """``out[:, j] = sum(t[:, j - before : j + after + 1])`` (zero outside the channels)."""
    c = t.shape[1]
    tp = F.pad(t, (0, 0, 0, 0, before, after))
    out = tp[:, 0:c].clone()
    for o in range(1, before + after + 1):
        out += tp[:, o:o + c]
    return out


def _lrn_factors(m: nn.LocalResponseNorm, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The parts of the LRN's transposed Jacobian that depend only on its input ``x``
    [N, C, H, W]: ``(d^-b, x d^(-b-1), 2ab/n x)`` (see :func:`_lrn_vjp`). A trace computes them
    once per image; every projection through that LRN reuses them."""
    n, a, b = m.size, m.alpha, m.beta
    d = _channel_window_sum(x * x, n // 2, (n - 1) // 2).mul_(a / n).add_(m.k)
    dpow = d.pow(-b)
    return dpow, x * dpow / d, x * (2 * a * b / n)


def _lrn_vjp(m: nn.LocalResponseNorm, factors: tuple[torch.Tensor, ...], g: torch.Tensor
            ) -> torch.Tensor:
    """Transposed Jacobian of ``m`` at its input ``x`` applied to ``g`` [K, C, h, w], given
    ``factors = _lrn_factors(m, x)`` cut to the same window.

    ``y_i = x_i d_i^-b``, ``d_i = k + a/n sum_{j in win(i)} x_j^2`` (torch's LRN: window
    ``[i - n//2, i + (n-1)//2]``), so ``(J^T g)_j = g_j d_j^-b - 2ab/n x_j sum_{i: j in win(i)}
    g_i x_i d_i^(-b-1)``.
    """
    n = m.size
    dpow, xd, x2ab = factors
    inner = _channel_window_sum(g * xd, (n - 1) // 2, n // 2)
    return (g * dpow).sub_(inner.mul_(x2ab))


def _gather_window(t: torch.Tensor, images: torch.Tensor, ay: torch.Tensor, ax: torch.Tensor,
                   h: int, w: int) -> torch.Tensor:
    """``t[images[k], :, ay[k]:ay[k]+h, ax[k]:ax[k]+w]`` for each k -> [K, C, h, w]."""
    if h == t.shape[-2] and w == t.shape[-1]:
        if len(images) > 1 and bool(images.min() == images.max()):  # one image: no copies
            return t[images[:1]].expand(len(images), *t.shape[1:])
        return t[images]
    rows = ay[:, None, None] + torch.arange(h, device=t.device)[None, :, None]
    cols = ax[:, None, None] + torch.arange(w, device=t.device)[None, None, :]
    return t[images[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def _relu_window(mask: torch.Tensor, images: torch.Tensor, ay: torch.Tensor, ax: torch.Tensor,
                 h: int, w: int) -> torch.Tensor:
    """:func:`_gather_window` of a ReLU mask, as [1, C, H, W] (broadcast, not expanded: an
    expanded bool mask is copied whole when multiplied) when every projection covers the
    whole map of one image."""
    if h == mask.shape[-2] and w == mask.shape[-1] and bool(images.min() == images.max()):
        return mask[images[:1]]
    return _gather_window(mask, images, ay, ax, h, w)


def _place(nat: torch.Tensor, ny: torch.Tensor, nx: torch.Tensor, hin: int, win: int):
    """Crop each natural output region ``nat[k]`` (starting at input row ``ny[k]``, column
    ``nx[k]``, possibly outside the map) to the window of the map it can reach.

    Returns (window [K, C, h, w], starts ay, ax [K], h, w), the window inside the map.
    """
    k, c, nh, nw = nat.shape
    h, w = min(nh, hin), min(nw, win)
    ay, ax = ny.clamp(0, hin - h), nx.clamp(0, win - w)
    oy, ox = ay - ny, ax - nx  # where the window starts inside nat (may be < 0: pad)
    if h == nh and w == nw and not oy.any() and not ox.any():
        return nat, ay, ax, h, w
    ly, lx = max(0, -int(oy.min())), max(0, -int(ox.min()))
    hy, hx = max(0, int((oy + h - nh).max())), max(0, int((ox + w - nw).max()))
    if ly or lx or hy or hx:
        nat = F.pad(nat, (lx, hx, ly, hy))
    oy, ox = oy + ly, ox + lx
    if bool((oy == oy[0]).all()) and bool((ox == ox[0]).all()):
        y0, x0 = int(oy[0]), int(ox[0])
        return nat[:, :, y0:y0 + h, x0:x0 + w], ay, ax, h, w
    kk = torch.arange(k, device=nat.device)
    return _gather_window(nat, kk, oy, ox, h, w).contiguous(), ay, ax, h, w


def _whole_map_padding(op: Op, m: nn.Module, sig: torch.Tensor, ay: torch.Tensor,
                       ax: torch.Tensor, hin: int, win: int) -> tuple[int, int] | None:
    """The ``output_padding`` with which a transposed convolution (padding as the op's) of a
    signal covering the conv's whole output map gives exactly its input map [hin, win],
    computing none of the natural output that :func:`_place` would cut away (ZFNet-64's conv2:
    17x17 natural for a 14x14 map, 1.7 times the work); None where that does not apply (a
    window, or a convolution to few channels, done by phases)."""
    h, w = sig.shape[-2:]
    (sy, sx), (py, px), (dy, dx) = op.stride, op.padding, op.dilation
    (ky, kx), groups = op.kernel, m.groups
    if bool(ay.any()) or bool(ax.any()) or \
            (h, w) != ((hin + 2 * py - dy * (ky - 1) - 1) // sy + 1,
                       (win + 2 * px - dx * (kx - 1) - 1) // sx + 1):
        return None
    if groups == 1 and (dy, dx) == (1, 1) and (sy, sx) != (1, 1) and m.weight.shape[1] <= 8:
        return None  # to the pixels: _conv_transpose's phases are faster
    oy = hin - ((h - 1) * sy - 2 * py + dy * (ky - 1) + 1)
    ox = win - ((w - 1) * sx - 2 * px + dx * (kx - 1) + 1)
    if not (0 <= oy < max(sy, dy) and 0 <= ox < max(sx, dx)):
        return None
    return oy, ox


def _project(tr: Trace, layer: str, maps: torch.Tensor, positions: torch.Tensor | None,
             images: torch.Tensor, *, unpool: str, lrn: str, full: bool,
             rule: str = "deconvnet", signal: torch.Tensor | None = None) -> torch.Tensor:
    """The deconvnet pass for one batch of K projections (see ``Trace.project``).

    ``signal`` [K, C, H, W]: start from this dense signal at ``layer``'s output instead (the
    backward signal of a class logit, :func:`project_logit`; ``maps`` and ``positions`` unused).

    Each projection is carried as a window of every feature map: at the layer, its own
    position (1x1) or the whole map; one level down, the region its window reaches through
    the op (transposed filter or unpooling), clipped to the map. ``full=True`` uses whole maps
    at every level (needed for ``overwrite``, where windows outside the receptive field that
    carry zero can still overwrite a shared switch).
    """
    with torch.no_grad():
        act = tr.acts[layer]
        dev = act.device
        k = len(maps)
        kk = torch.arange(k, device=dev)
        h, w = act.shape[-2:]
        if signal is not None:
            ay = ax = torch.zeros(k, dtype=torch.long, device=dev)
            vals = None
        elif positions is not None and not full:
            ay, ax = positions[:, 0].clone(), positions[:, 1].clone()
            vals = act[images, maps, ay, ax].reshape(k, 1, 1, 1)
            h = w = 1
        else:
            ay = ax = torch.zeros(k, dtype=torch.long, device=dev)
            if positions is None:
                vals = act[images, maps].unsqueeze(1).clone()
            else:
                vals = act.new_zeros(k, 1, h, w)
                y, x = positions[:, 0], positions[:, 1]
                vals[kk, 0, y, x] = act[images, maps, y, x]
        sig = signal  # dense [K, C, h, w] once past the layer's own conv
        for i in range(tr.op_of[layer], -1, -1):
            op = tr.ops[i]
            hin, win = tr.in_sizes[i]
            if op.kind == "identity":  # Dropout, Identity, a BatchNorm folded into its conv
                continue
            if sig is None and op.kind != "relu" and op.kind != "conv":
                sig = act.new_zeros(k, act.shape[1], h, w)
                sig[kk, maps] = vals[:, 0]
            if op.kind == "relu":  # the rule: rectify (deconvnet), mask (gradient), both
                if sig is None:  # the layer's own activations: >= 0, zero where the input
                    vals.relu_()  # was not positive, so every rule leaves them as they are
                else:
                    mask = None if rule == "deconvnet" else \
                        _relu_window(tr.relu_mask(i), images, ay, ax, h, w)
                    relu_backward(rule, sig, mask)
            elif op.kind == "conv":  # filter with the transposed weights; bias ignored
                m = op.module
                ny = ay * op.stride[0] - op.padding[0]
                nx = ax * op.stride[1] - op.padding[1]
                if sig is None and m.groups == 1:
                    wm = m.weight[maps]  # [K, Cin, kh, kw]: the filters of the chosen maps
                    if h == 1 and w == 1 and op.dilation == (1, 1):
                        nat = vals * wm
                    else:
                        nat = F.conv_transpose2d(vals.reshape(1, k, h, w), wm, None,
                                                 op.stride, 0, 0, k, op.dilation)
                        nat = nat.reshape(k, wm.shape[1], *nat.shape[-2:])
                else:
                    if sig is None:
                        sig = act.new_zeros(k, act.shape[1], h, w)
                        sig[kk, maps] = vals[:, 0]
                    pad = _whole_map_padding(op, m, sig, ay, ax, hin, win)
                    if pad is not None:  # straight to the input map, nothing cut away
                        sig = F.conv_transpose2d(sig, m.weight, None, op.stride, op.padding,
                                                 pad, m.groups, op.dilation)
                        h, w = hin, win
                        continue
                    nat = _conv_transpose(sig, m.weight, op.stride, op.dilation, m.groups)
                sig, ay, ax, h, w = _place(nat, ny, nx, hin, win)
            elif op.kind == "pool":  # unpool with the switches
                ny = ay * op.stride[0] - op.padding[0]
                nx = ax * op.stride[1] - op.padding[1]
                h2 = min((h - 1) * op.stride[0] + op.kernel[0], hin)
                w2 = min((w - 1) * op.stride[1] + op.kernel[1], win)
                ay2, ax2 = ny.clamp(0, hin - h2), nx.clamp(0, win - w2)
                sw = tr.switches[i]
                if (h, w, h2, w2) == (*sw.shape[-2:], hin, win):  # whole maps: the switches
                    local = _gather_window(sw, images, ay, ax, h, w)  # index the input map
                else:
                    if i not in tr.switch_rc:  # switch row and column, shared by all
                        tr.switch_rc[i] = (sw // win, sw % win)
                    sr = _gather_window(tr.switch_rc[i][0], images, ay, ax, h, w)
                    sc = _gather_window(tr.switch_rc[i][1], images, ay, ax, h, w)
                    local = (sr - ay2.view(k, 1, 1, 1)) * w2 + (sc - ax2.view(k, 1, 1, 1))
                c = sig.shape[1]
                sig = _scatter(sig.reshape(k, c, -1), local.reshape(k, c, -1), h2 * w2,
                               unpool).view(k, c, h2, w2)
                ay, ax, h, w = ay2, ax2, h2, w2
            elif lrn == "jacobian":  # transposed Jacobian of the LRN at its forward input
                if i not in tr.lrn_factors:  # shared by all projections of the trace
                    tr.lrn_factors[i] = _lrn_factors(op.module, tr.lrn_inputs[i])
                sig = _lrn_vjp(op.module, [_gather_window(f, images, ay, ax, h, w)
                                          for f in tr.lrn_factors[i]], sig)
            # lrn == "skip": identity
        if sig is None:
            raise ValueError(f"{layer} has no convolution below it")
        hin, win = tr.in_sizes[0]
        if h == hin and w == win:
            return sig.contiguous()
        out = sig.new_zeros(k, sig.shape[1], hin, win)
        rows = ay[:, None, None] + torch.arange(h, device=dev)[None, :, None]
        cols = ax[:, None, None] + torch.arange(w, device=dev)[None, None, :]
        out[kk[:, None, None], :, rows, cols] = sig.permute(0, 2, 3, 1)
        return out


__all__ = ["Op", "Strongest", "Trace", "Chain", "chain", "chain_indices", "own_names",
           "layer_names", "uses_chain", "weights_of", "step", "check_projection",
           "features_of", "layer_indices", "resolve_layer",
           "resolve_layers", "network_input", "as_indices", "check_indices",
           "feature_ops", "forward_trace", "project", "project_strongest", "project_logit",
           "pool_with_switches", "unpool", "SUPPORTED", "UNPOOL", "LRN", "RULES",
           "PROJECTION_BATCH"]
