"""The deconvnet for any network: residual additions, concatenations, batch norm, any DAG.

:mod:`zflib.methods.deconv` inverts plain chains of Conv2d, ReLU, MaxPool2d and LRN op by op. This
module projects through whatever the model's ``forward`` does (ResNet's skip connections,
DenseNet's concatenations), with the deconvnet's three rules applied to the functions it calls:
ReLU rectifies the *signal* on the way back (not the forward activation), max-pooling unpools
with the switches of the forward pass (their sum where two windows share one, the adjoint, as
``unpool="sum"``), and biases are ignored (transposed filters only). Batch norm in eval mode is
the per-channel scale it applies. The result equals captum's ``Deconvolution`` times the
activation (tests: ResNet-18, VGG16-BN, DenseNet-121).

How: a ``TorchFunctionMode`` sees every torch function the model calls.

- The *shared forward* (:func:`forward_trace`) runs the model once on the images, stopped at
  the deepest requested layer, recording each max-pooling's switches and the layers' outputs
  (forward hooks on the named modules, removed in ``finally``).
- A *projection* runs the model on a placeholder whose forward computes nothing: each
  convolution, batch norm, ReLU and max-pooling returns zeros of its output's shape, with a
  backward that is the deconvnet's step (``conv2d_input`` with the layer's weights, the BN
  scale, ReLU of the signal, unpooling with the recorded switches). Additions, concatenations,
  average pooling, flattening and dropout run as they are (their backward does not depend on
  their input). One ``autograd.grad`` then projects a batch of activations at once, at the
  cost of the backward pass alone.
- Each activation is projected over a crop of the input that holds its receptive field
  (:func:`receptive_field`), aligned to the layer's stride so that every map of the crop is a
  window of the full map (the switches are that window of the shared forward's); the units a
  projection reaches lie inside the crop, so the result equals the full image's. Whole maps
  (``positions=None``) and layers whose units see the whole image use the whole image.
- A model calling anything else on the way (a sigmoid gate, LRN with ``lrn="jacobian"``) is
  projected by plain autograd instead: one real forward pass with ReLU's backward replaced by
  the rule, then one backward pass per projection. A sigmoid or tanh (a gate) is passed by its
  own derivative, as captum does.

The three rules (``rule``: ``"deconvnet"``, ``"guided"``, ``"gradient"``, see
:mod:`zflib.methods.deconv_steps`) differ at a ReLU only: guided backprop and the gradient need
where each ReLU's forward input was positive, which one more forward pass of the traced images
records (the ReLU calls in order, as the switches), on their first projection of a trace. The
deconvnet and guided backprop are defined at ReLU alone: a model calling another activation
(GELU, SiLU, ELU, leaky ReLU, ReLU6, hardswish, mish, softplus, ...) is refused with a
``ValueError`` naming it for those two rules, never treated as a ReLU; the gradient is defined
for every such function (autograd's own derivative).

Layers are the model's own module names (``"layer2"``, ``"features.denseblock3"``,
``"layer4.1.relu"``: the output of that module's last call) or numbers ``1..`` into
:func:`default_layers` (the stages a figure would show).

Paper: Sec. 2.1, Fig. 1 (the deconvnet), extended to networks the paper did not have.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from zflib.methods.activations import layer_list
from zflib.methods.deconv_steps import (
    RULES,
    as_indices,
    check_projection,
    check_rule,
    conv_transpose,
    relu_backward,
)

# Projections per backward pass by default: 2**20 input pixels of crops, 1 to 64 of them
# (ResNet-18's layer2, 106-pixel crops: 64, 8.7 ms a projection against 9.3 with 32; its
# layer4, whole 224-pixel images: 20, 50 ms against 53 with 32 and 57 with 64; one thread).
PROJECTION_PIXELS = 2 ** 20
PROJECTION_BATCH = 64


class _Stop(Exception):
    """Raised by the last layer's hook: the forward pass need not go on."""


class Unsupported(Exception):
    """A function the placeholder forward cannot stand in for (autograd is used instead)."""


# ----------------------------------------------------------------------------- layer names


def module_names(model: nn.Module) -> list[str]:
    """Every named module of ``model`` (the root excluded): the names a layer may take."""
    return [n for n, _ in model.named_modules() if n]


def default_layers(model: nn.Module) -> list[str]:
    """The stages a figure shows, numbered ``1..``: the shallowest level of the module tree
    with more than one child holding a Conv2d (ResNet: ``conv1``, ``layer1``..``layer4``;
    DenseNet: ``features.conv0``, ``features.denseblock1``, ...), those children in order;
    a lone Conv2d nested in containers is the one stage."""
    name, mod = "", model
    while True:
        kids = [(f"{name}.{n}" if name else n, c) for n, c in mod.named_children()
                if any(isinstance(m, nn.Conv2d) for m in c.modules())]
        if len(kids) != 1:  # several stages, or a lone conv (itself the only stage)
            return [n for n, _ in kids] or ([name] if name else [])
        name, mod = kids[0]


def resolve_layer(model: nn.Module, layer: int | str) -> str:
    """A module name of ``model``, or number ``i`` -> the i-th of :func:`default_layers`;
    ``ValueError`` naming the valid ones otherwise."""
    stages = default_layers(model)
    if isinstance(layer, bool) or not isinstance(layer, (int, str)):
        try:
            layer = int(layer.__index__())  # numpy's integers too
        except (AttributeError, TypeError):
            raise ValueError(f"layer {layer!r} is neither a number nor a name; valid: "
                             + ", ".join(stages)) from None
    if isinstance(layer, int):
        if not 1 <= layer <= len(stages):
            raise ValueError(f"layer {layer} out of range 1..{len(stages)} "
                             f"({', '.join(stages)})")
        return stages[layer - 1]
    names = module_names(model)
    if layer not in names:
        some = ", ".join(stages)
        raise ValueError(f"layer {layer!r} not in {type(model).__name__}; valid: any module "
                         f"name ({len(names)}, e.g. {some}, {names[-1]})")
    return layer


# ----------------------------------------------------------------------------- running


def run_to(model: nn.Module, x: torch.Tensor, layers: Sequence[str], *,
           mode: TorchFunctionMode | None = None) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x`` until every one of ``layers`` (module names) has produced its
    output; return those outputs (each module's last call before the stop).

    The public helper for code that needs a layer's activations of any model (occlusion,
    mining). Hooks are removed in ``finally``. ``ValueError`` if the forward pass ends without
    reaching a layer.
    """
    mods = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    handles = []
    want = set(layers)
    # a module called more than once (torchvision's BasicBlock reuses its ReLU) gives its last
    # call's output: then the forward pass runs to its end instead of stopping early
    early = not any(_reused(mods, n) for n in want)

    def hook(name: str, _m, _i, o) -> None:
        if not isinstance(o, torch.Tensor):
            raise ValueError(f"layer {name!r} outputs {type(o).__name__}, not a tensor")
        out[name] = o
        if early and want <= out.keys():
            raise _Stop

    try:
        for n in want:
            handles.append(mods[n].register_forward_hook(functools.partial(hook, n)))
        try:
            if mode is None:
                model(x)
            else:
                with mode:
                    model(x)
        except _Stop:
            pass
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in layers if n not in out]
    if missing:
        raise ValueError(f"layer {missing[0]!r} is never reached by {type(model).__name__}'s "
                         "forward pass; give a module its forward calls (e.g. "
                         + ", ".join(default_layers(model)) + ")")
    return {n: out[n] for n in layers}


def layer_and_output(model: nn.Module, x: torch.Tensor, layer: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """One whole forward pass of ``model`` on ``x``: (``layer``'s output, the model's
    output). What occlusion needs of any model (Fig. 7: a feature map and the class
    probabilities under each occluder). The hook is removed in ``finally``."""
    mod = dict(model.named_modules())[layer]
    seen: list[torch.Tensor] = []
    handle = mod.register_forward_hook(lambda _m, _i, o: seen.append(o))
    try:
        out = model(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"layer {layer!r} is never reached by {type(model).__name__}'s "
                         "forward pass")
    return seen[-1], out


def _reused(mods: dict[str, nn.Module], name: str) -> bool:
    """Whether module ``name`` may run more than once per forward pass: a ReLU or other
    parameter-free leaf whose parent is not a Sequential (torchvision's BasicBlock calls its
    one ``relu`` twice). Then the forward pass runs to the end instead of stopping early."""
    mod, parent = mods[name], mods[name.rpartition(".")[0]]
    return not list(mod.children()) and not list(mod.parameters(recurse=False)) and \
        not isinstance(parent, nn.Sequential)


# ----------------------------------------------------------------------------- the rules


def _shape(fn: Callable, x: torch.Tensor, *args) -> torch.Size:
    """Output shape of ``fn(x, *args)`` computed on meta tensors (no arithmetic)."""
    return _meta_shape(fn, tuple(x.shape), *(tuple(a.shape) if isinstance(a, torch.Tensor)
                                            else a for a in args))


@functools.lru_cache(maxsize=1024)
def _meta_shape(fn: Callable, shape: tuple, *args) -> torch.Size:
    meta = [torch.empty(a, device="meta") if isinstance(a, tuple) and fn is F.conv2d and
            i == 0 else a for i, a in enumerate(args)]
    return fn(torch.empty(shape, device="meta"), *meta).shape


class _Rectify(torch.autograd.Function):
    """Forward ReLU; backward ReLU of the signal (the deconvnet's rectification)."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        return g.clamp(min=0)


class _Guided(torch.autograd.Function):
    """Forward ReLU; backward guided backprop's rule: ReLU of the signal where the forward
    input was positive."""

    @staticmethod
    def forward(ctx, x):
        out = x.clamp(min=0)
        ctx.mask = out > 0
        return out

    @staticmethod
    def backward(ctx, g):
        return relu_backward("guided", g.clone(), ctx.mask)


class _MaskPlaceholder(torch.autograd.Function):
    """Forward: the placeholder itself; backward: guided backprop's or the gradient's rule at
    a ReLU, with the recorded ``mask`` (forward input > 0) of the crop."""

    @staticmethod
    def forward(ctx, x, mask, rule):
        ctx.mask, ctx.rule = mask, rule
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return relu_backward(ctx.rule, g.clone(), ctx.mask), None, None


class _RectifyPlaceholder(_Rectify):
    """:class:`_Rectify` on a placeholder: the forward computes nothing."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)


class _SumPlaceholder(torch.autograd.Function):
    """Forward: an uninitialised tensor of the sum's shape; backward: the signal to both."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.new_empty(torch.broadcast_shapes(a.shape, b.shape))

    @staticmethod
    def backward(ctx, g):
        return tuple(g if g.shape == s else g.sum_to_size(s) for s in ctx.shapes)


class _Pass(torch.autograd.Function):
    """Forward ``fn(x)`` (LRN); backward the signal unchanged (``lrn="skip"``)."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, g):
        return g, None


class _ConvPlaceholder(torch.autograd.Function):
    """Forward: zeros of the convolution's output shape; backward: the transposed filters
    (``conv2d_input``; no bias)."""

    @staticmethod
    def forward(ctx, x, weight, out_shape, stride, padding, dilation, groups):
        ctx.geom = stride, padding, dilation, groups
        ctx.in_shape, ctx.weight = x.shape, weight
        return x.new_empty(out_shape)  # never read: values do not matter on the way back

    @staticmethod
    def backward(ctx, g):
        stride, padding, dilation, groups = ctx.geom
        w = ctx.weight.to(g.dtype)
        if w.shape[1] * groups <= 8 and stride != (1, 1):  # to the pixels: stride phases
            nat = conv_transpose(g.contiguous(), w.contiguous(), stride, dilation, groups)
            (py, px), (hh, ww) = padding, ctx.in_shape[-2:]
            nat = F.pad(nat, (0, max(0, px + ww - nat.shape[-1]), 0,
                              max(0, py + hh - nat.shape[-2])))
            return nat[..., py:py + hh, px:px + ww], None, None, None, None, None, None
        g = g.contiguous(memory_format=torch.channels_last)
        return (torch.nn.grad.conv2d_input(ctx.in_shape, w, g, *ctx.geom),
                None, None, None, None, None, None)


class _ScalePlaceholder(torch.autograd.Function):
    """Forward: the placeholder itself; backward: the signal times a per-channel scale (eval
    batch norm)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.scale.to(g.dtype).view(1, -1, *([1] * (g.dim() - 2))), None


class _UnpoolPlaceholder(torch.autograd.Function):
    """Forward: zeros of the pooled shape; backward: each pooled value added at its switch
    (``switches`` [K, C, h, w], flat indices into the input map)."""

    @staticmethod
    def forward(ctx, x, switches):
        ctx.switches, ctx.in_shape = switches, x.shape
        return x.new_empty(switches.shape)

    @staticmethod
    def backward(ctx, g):
        k, c = g.shape[:2]
        out = g.new_zeros(k, c, ctx.in_shape[-2] * ctx.in_shape[-1])
        return out.scatter_add_(2, ctx.switches.reshape(k, c, -1),
                                g.reshape(k, c, -1)).view(ctx.in_shape), None


_RELU = {F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
# activations the deconvnet and guided backprop do not define (their rules are ReLU's)
_UNDEFINED = {getattr(mod, n) for mod in (F, torch) for n in (
    "gelu", "silu", "elu", "elu_", "leaky_relu", "leaky_relu_", "relu6", "hardtanh",
    "hardtanh_", "hardswish", "mish", "softplus", "selu", "selu_", "celu", "celu_", "prelu",
    "rrelu", "rrelu_", "glu", "hardsigmoid", "logsigmoid", "hardshrink", "softshrink",
    "tanhshrink", "threshold", "threshold_", "softsign") if hasattr(mod, n)}


def check_activation(func, rule: str) -> None:
    """``ValueError`` if ``func`` is an activation that ``rule`` does not define."""
    if rule != "gradient" and func in _UNDEFINED:
        name = getattr(func, "__name__", repr(func))
        raise ValueError(f"rule {rule!r} is defined at ReLU only and the model calls {name}; "
                         "use rule='gradient' (valid: " + ", ".join(RULES) + ")")
_POOL = {F.max_pool2d}
_ADD = {torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__,
        torch.Tensor.__iadd__, torch.Tensor.__radd__}
# run as they are on placeholders: their backward does not read their input's values
_LINEAR = _ADD | {torch.cat, torch.flatten,
           torch.Tensor.flatten, torch.Tensor.view, torch.Tensor.reshape, torch.reshape,
           torch.Tensor.contiguous, torch.Tensor.__getitem__, F.adaptive_avg_pool2d,
           torch.Tensor.mean, torch.mean, F.linear, torch.Tensor.clone}


def _stride(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _tag(t: torch.Tensor, s) -> torch.Tensor:
    t._zf_stride = s  # cumulative stride of this map in input pixels (None: global)
    return t


def _tag_of(args) -> tuple[int, int] | None:
    for a in args:  # tensors, or lists of them (torch.cat), one level deep
        for t in a if isinstance(a, (list, tuple)) else (a,):
            if isinstance(t, torch.Tensor) and hasattr(t, "_zf_stride"):
                return t._zf_stride
    return None


def _times(s, f) -> tuple[int, int] | None:
    return None if s is None else (s[0] * f[0], s[1] * f[1])


class _Placeholders(TorchFunctionMode):
    """The projection's forward: nothing computed, the deconvnet's backward recorded.

    ``switches(j, in_stride, out_stride, in_hw, out_shape)`` gives the j-th max-pooling's
    switches for the batch. ``support=True`` instead records which inputs each unit depends
    on (all-positive filters, every pooling window member): :func:`receptive_field`.
    """

    def __init__(self, switches: Callable | None, *, lrn: str = "skip",
                 support: bool = False, weights: dict | None = None,
                 rule: str = "deconvnet", masks: Callable | None = None) -> None:
        super().__init__()
        self.switches, self.lrn, self.support = switches, lrn, support
        self.weights = {} if weights is None else weights  # id -> (weight, channels-last copy)
        self.pools = 0
        self.rule, self.masks, self.relus = rule, masks, 0  # masks(j, stride, shape)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tag = _tag_of(args)
        if func is torch.conv2d or func is F.conv2d:
            return self._conv(tag, *args, **kwargs)
        if func is F.batch_norm:
            return self._bn(*args, **kwargs)
        if func in _RELU:
            j, self.relus = self.relus, self.relus + 1
            if self.support or self.rule == "deconvnet":
                return _tag(_RectifyPlaceholder.apply(args[0]), tag)
            mask = self.masks(j, tag, tuple(args[0].shape))
            return _tag(_MaskPlaceholder.apply(args[0], mask, self.rule), tag)
        if not self.support:
            check_activation(func, self.rule)
        if func in _POOL:
            return self._pool(tag, *args, **kwargs)
        if func is F.local_response_norm and self.lrn == "skip":
            return _tag(_Pass.apply(args[0], lambda t: t.clone()), tag)
        if func is F.dropout or func is F.dropout2d:
            if kwargs.get("training", args[2] if len(args) > 2 else True):
                raise ValueError("the model is in training mode (dropout active); call "
                                 "model.eval() before projecting")
            return args[0]
        if func is F.avg_pool2d:
            k = _stride(args[1] if len(args) > 1 else kwargs["kernel_size"])
            s = args[2] if len(args) > 2 else kwargs.get("stride")
            return _tag(func(*args, **kwargs), _times(tag, _stride(s) if s else k))
        if func in _ADD and len(args) == 2 and not kwargs and \
                all(isinstance(a, torch.Tensor) for a in args):
            # out of place, nothing computed (the caller keeps the result, as
            # ``out += identity`` does)
            return _tag(_SumPlaceholder.apply(*args), tag)
        out = func(*args, **kwargs)
        if func in _LINEAR:
            return _tag(out, None if func is F.adaptive_avg_pool2d else tag) \
                if isinstance(out, torch.Tensor) else out
        if any(isinstance(o, torch.Tensor) for o in tree_flatten(out)[0]):
            raise Unsupported(getattr(func, "__name__", repr(func)))
        return out

    def _conv(self, tag, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if isinstance(padding, str):
            if padding != "valid":
                raise Unsupported(f"conv2d with padding={padding!r}")
            padding = 0
        shape = _shape(F.conv2d, x, weight, None, stride, padding, dilation, groups)
        if self.support:
            w = torch.ones_like(weight)
        else:  # channels-last: oneDNN's batched backward runs about twice as fast so
            if id(weight) not in self.weights:
                self.weights[id(weight)] = (weight, weight.detach().contiguous(
                    memory_format=torch.channels_last))
            w = self.weights[id(weight)][1]
        geom = (_stride(stride), _stride(padding), _stride(dilation), groups)
        out = _tag(_ConvPlaceholder.apply(x, w, shape, *geom), _times(tag, _stride(stride)))
        out._zf_conv = (x, weight, shape, geom)  # for a batch norm to fold itself in
        return out

    def _bn(self, x, running_mean, running_var, weight=None, bias=None, training=False,
            momentum=0.1, eps=1e-5):
        if training or running_var is None:
            raise ValueError("a BatchNorm runs in training mode (or without running "
                             "statistics); call model.eval() before projecting")
        scale = (running_var + eps).rsqrt()
        if weight is not None:
            scale = scale * weight
        if self.support:
            scale = torch.ones_like(scale)
        conv = getattr(x, "_zf_conv", None)
        if conv is not None and not self.support:
            # right after a convolution: the scale folded into its filters, one backward
            # step instead of two (the convolution's own output, if used elsewhere too,
            # keeps its own step)
            src, weight, shape, geom = conv
            key = (id(weight), id(running_var))
            if key not in self.weights:
                self.weights[key] = (weight, running_var, (weight * scale.view(-1, 1, 1, 1))
                                     .detach().contiguous(memory_format=torch.channels_last))
            w = self.weights[key][2]
            return _tag(_ConvPlaceholder.apply(src, w, shape, *geom), _tag_of((x,)))
        return _tag(_ScalePlaceholder.apply(x, scale.detach()), _tag_of((x,)))

    def _pool(self, tag, x, kernel_size, stride=None, padding=0, dilation=1,
              ceil_mode=False, return_indices=False):
        if return_indices:
            raise Unsupported("max_pool2d with return_indices")
        stride = stride or kernel_size
        out_shape = _shape(F.max_pool2d, x, kernel_size, stride, padding, dilation, ceil_mode)
        out_tag = _times(tag, _stride(stride))
        if self.support:  # every window member: the adjoint of average pooling
            out = F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, True)
        else:
            sw = self.switches(self.pools, tag, out_tag, tuple(x.shape[-2:]), out_shape)
            out = _UnpoolPlaceholder.apply(x, sw)
        self.pools += 1
        return _tag(out, out_tag)


class _Recorder(TorchFunctionMode):
    """The shared forward: runs everything, keeping each max-pooling's switches (in call
    order) and input size; with ``masks``, instead each ReLU call's output > 0 (in order)."""

    def __init__(self, masks: bool = False) -> None:
        super().__init__()
        self.switches: list[tuple[torch.Tensor, tuple[int, int]]] = []
        self.masks: list[torch.Tensor] | None = [] if masks else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.masks is not None:
            out = func(*args, **kwargs)
            if func in _RELU:
                self.masks.append(out > 0)
            return out
        if func in _POOL and not kwargs.get("return_indices", len(args) > 6 and args[6]):
            out, sw = func(*args, **{**kwargs, "return_indices": True})
            self.switches.append((sw, tuple(args[0].shape[-2:])))
            return out
        return func(*args, **kwargs)


class _Autograd(TorchFunctionMode):
    """The autograd fallback: a real forward pass whose ReLUs pass the signal back by the
    rule (and LRN passes it unchanged with ``lrn="skip"``)."""

    def __init__(self, lrn: str, rule: str = "deconvnet") -> None:
        super().__init__()
        self.lrn, self.rule = lrn, rule

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU:
            if self.rule == "gradient":
                return func(*args, **kwargs)
            return (_Rectify if self.rule == "deconvnet" else _Guided).apply(args[0])
        check_activation(func, self.rule)
        if func is F.local_response_norm and self.lrn == "skip":
            return _Pass.apply(args[0], functools.partial(func, *args[1:], **kwargs))
        return func(*args, **kwargs)


# ----------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Geometry:
    """A layer's receptive field (``size``, ``stride``, ``offset`` in input pixels, as
    :class:`zflib.methods.receptive.ReceptiveField`) and ``align``, the stride of its map (crops
    start at multiples of it). ``size`` 0: the units see the whole image."""

    size: int
    stride: int
    offset: int
    align: tuple[int, int] | None


def _support(model: nn.Module, name: str, side: int, unit: tuple[int, int], chans: int,
             dtype: torch.dtype) -> tuple[torch.Tensor, tuple[int, int] | None,
                                          tuple[int, int]]:
    """Input pixels [side, side] that unit ``unit`` of ``name`` (summed over maps) depends on;
    the layer's map stride; its map size."""
    x = _tag(torch.zeros(1, chans, side, side, dtype=dtype, requires_grad=True), (1, 1))
    out = run_to(model, x, [name], mode=_Placeholders(None, support=True))[name]
    g = torch.zeros_like(out)
    y, xx = min(unit[0], out.shape[-2] - 1), min(unit[1], out.shape[-1] - 1)
    g[0, :, y, xx] = 1
    grad = torch.autograd.grad(out, x, g)[0][0].abs().sum(0)
    return grad > 0, getattr(out, "_zf_stride", None), tuple(out.shape[-2:])


@functools.lru_cache(maxsize=8)
def _geometry(model_id: int, model: nn.Module, name: str, side: int, chans: int,
              dtype: torch.dtype) -> Geometry:
    with torch.enable_grad():
        for canvas in (side, 2 * side, 4 * side, 8 * side):
            mask, align, hw = _support(model, name, canvas, (10 ** 9, 10 ** 9), chans, dtype)
            if align is None or hw[0] < 3:
                return Geometry(0, 0, 0, None)
            cy = hw[0] // 2
            mask, _, _ = _support(model, name, canvas, (cy, cy), chans, dtype)
            rows = mask.any(1).nonzero().flatten()
            if len(rows) and 0 < int(rows[0]) and int(rows[-1]) < canvas - 1:
                nxt, _, _ = _support(model, name, canvas, (cy + 1, cy + 1), chans, dtype)
                top = int(rows[0])
                stride = int(nxt.any(1).nonzero()[0]) - top
                return Geometry(int(rows[-1]) - top + 1, stride, top - cy * stride, align)
    return Geometry(0, 0, 0, None)


def receptive_field(model: nn.Module, layer: int | str, *, side: int = 224,
                    channels: int = 3) -> Geometry:
    """The receptive field of ``layer``'s units: the input pixels a unit depends on through
    any path (found by projecting a unit with all-positive filters, every max-pooling window
    member taken). ``side``: the image side it is measured at (units seeing all of it, or
    models calling functions the measurement cannot follow, a sigmoid gate: size 0)."""
    name = resolve_layer(model, layer)
    dtype = next(model.parameters()).dtype
    try:
        return _geometry(id(model), model, name, side, channels, dtype)
    except Unsupported:  # a function no placeholder stands in for: the whole image
        return Geometry(0, 0, 0, None)


# ----------------------------------------------------------------------------- the trace


@dataclass
class GeneralTrace:
    """One forward pass of any model up to the deepest of some layers (see
    :func:`forward_trace`); :meth:`project` shares it among any number of projections."""

    model: nn.Module
    x: torch.Tensor  # [N, C, S, S] network inputs
    acts: dict[str, torch.Tensor]
    switches: list[tuple[torch.Tensor, tuple[int, int]]]
    placeholders: dict[str, bool] = field(default_factory=dict)  # layer/lrn -> they stand in
    weights: dict = field(default_factory=dict)  # channels-last copies, made once a trace
    switch_rc: dict[int, torch.Tensor] = field(default_factory=dict)  # pool -> [2, N, C, h, w]
    # each ReLU call's forward input > 0 (int8 [N, C, H, W] or [N, C], in call order): what
    # guided backprop and the gradient need, recorded on their first projection of the trace
    relu_masks: list[torch.Tensor] | None = None

    @property
    def in_channels(self) -> int:
        return self.x.shape[1]

    def _layer(self, layer: int | str) -> str:
        name = resolve_layer(self.model, layer)
        if name not in self.acts:
            raise ValueError(f"layer {layer!r} not traced; traced: {', '.join(self.acts)}")
        return name

    def strongest(self, layer: int | str, image: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions [C, 2], values [C]) of each map's strongest activation in ``image``."""
        return strongest_units(self.acts[self._layer(layer)], image)

    def project(self, layer: int | str, maps, positions=None, images=None, *,
                rule: str = "deconvnet", unpool: str = "sum", lrn: str | None = None,
                batch_size: int | None = None) -> torch.Tensor:
        """Project K activations (``positions`` [K, 2]) or K whole maps; as
        :meth:`zflib.methods.deconv.Trace.project` (``unpool="sum"`` only; ``rule``
        ``"deconvnet"``, ``"guided"`` or ``"gradient"``, ``lrn`` None: the rule's own).
        ``batch_size``: projections per backward pass (default: as many crops as hold
        ``PROJECTION_PIXELS`` pixels, at most ``PROJECTION_BATCH``).

        Returns:
            [K, C, S, S] projections in input space (biases ignored).

        Paper: Sec. 2.1, Fig. 1.
        """
        if unpool != "sum":
            raise ValueError(f"unpool {unpool!r}: the general path unpools by the adjoint "
                             "('sum') only")
        lrn = check_rule(rule, lrn)
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size {batch_size} out of range 1..")
        name = self._layer(layer)
        act = as_maps(self.acts[name])
        maps, positions, images = check_projection(act, name, maps, positions, images)
        k = len(maps)
        out = act.new_zeros(k, *self.x.shape[1:])
        if not k:
            return out
        boxes = self._boxes(name, positions, k)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (_, _, h, w) in enumerate(boxes.tolist()):
            groups.setdefault((h, w), []).append(i)
        for idx in groups.values():
            h, w = boxes[idx[0], 2:].tolist()
            step = batch_size or min(PROJECTION_BATCH, max(1, PROJECTION_PIXELS // (h * w)))
            for s in range(0, len(idx), step):
                sel = torch.tensor(idx[s:s + step], device=act.device)
                pos = None if positions is None else positions[sel]
                out[sel] = self._project(name, maps[sel], pos, images[sel], boxes[sel], lrn,
                                         rule)
        return out

    def _masks(self) -> list[torch.Tensor]:
        """:attr:`relu_masks`, recorded by one more forward pass on first use."""
        if self.relu_masks is None:
            rec = _Recorder(masks=True)
            with torch.no_grad():
                run_to(self.model, self.x, list(self.acts), mode=rec)
            self.relu_masks = [m.to(torch.int8) for m in rec.masks]
        return self.relu_masks

    def _boxes(self, name: str, positions: torch.Tensor | None, k: int) -> torch.Tensor:
        """[K, 4] (top, left, height, width) of each projection's crop of the input (whole
        maps, ``positions=None``: the whole image)."""
        hh, ww = self.x.shape[-2:]
        full = torch.tensor([[0, 0, hh, ww]]).expand(k, 4).clone()
        if positions is None:
            return full
        geo = receptive_field(self.model, name, side=max(hh, ww), channels=self.in_channels)
        if not geo.size or geo.align is None:
            return full
        (t0, h), (l0, w) = (_crops(positions[:, i].cpu(), geo, geo.align[i], side)
                            for i, side in enumerate((hh, ww)))
        return torch.stack([t0, l0, h, w], 1)

    def rf_boxes(self, layer: int | str, positions: torch.Tensor) -> torch.Tensor:
        """[K, 2] (height, width) of each unit's receptive field clipped to the image: the
        input a backward pass over the receptive field alone must cover (the benchmark's
        bound)."""
        hh, ww = self.x.shape[-2:]
        geo = receptive_field(self.model, self._layer(layer), side=max(hh, ww),
                              channels=self.in_channels)
        if not geo.size:
            return torch.tensor([[hh, ww]]).expand(len(positions), 2)
        top = positions.cpu() * geo.stride + geo.offset
        end = torch.minimum(top + geo.size, torch.tensor([hh, ww]))
        return end - top.clamp(min=0)

    def _project(self, name, maps, positions, images, boxes, lrn, rule) -> torch.Tensor:
        key = f"{name}/{rule}/{lrn}"
        if self.placeholders.get(key, True):
            try:
                return self._placeholder(name, maps, positions, images, boxes, lrn, rule)
            except Unsupported:
                self.placeholders[key] = False
        return self._autograd(name, maps, positions, images, lrn, rule)

    def _placeholder(self, name, maps, positions, images, boxes, lrn, rule) -> torch.Tensor:
        k = len(maps)
        t0, l0, h, w = (boxes[:, i] for i in range(4))
        h, w = int(h[0]), int(w[0])
        dev = self.x.device

        def switches(j, s_in, s_out, in_hw, out_shape):
            if j not in self.switch_rc:  # switch rows and columns, once a trace
                full, (_, win) = self.switches[j]
                self.switch_rc[j] = torch.stack([full // win, full % win]).int()
            ho, wo = out_shape[-2:]
            oy, ox = (t0 // s_out[0]).to(dev), (l0 // s_out[1]).to(dev)
            iy, ix = (t0 // s_in[0]).to(dev), (l0 // s_in[1]).to(dev)
            rc = self.switch_rc[j]
            r = _window(rc[0], images, oy, ox, ho, wo) - iy.view(k, 1, 1, 1)
            c = _window(rc[1], images, oy, ox, ho, wo) - ix.view(k, 1, 1, 1)
            # a switch outside the crop belongs to a window outside the unit's receptive
            # field, whose signal is zero: any index in the crop will do
            return (r.clamp(0, in_hw[0] - 1) * in_hw[1] + c.clamp(0, in_hw[1] - 1)).long()

        recorded = self._masks() if rule != "deconvnet" else []  # before the pass: its hooks

        def masks(j, s, shape):
            full = recorded[j]
            if full.dim() != 4 or s is None:  # a vector, or a map the crop is all of
                return full[images] > 0
            oy, ox = (t0 // s[0]).to(dev), (l0 // s[1]).to(dev)
            # outside the map (a crop's border) the signal is zero: any mask will do
            return _window(full, images, oy, ox, shape[-2], shape[-1]) > 0

        with torch.enable_grad():
            ph = _tag(self.x.new_empty(k, self.in_channels, h, w, requires_grad=True), (1, 1))
            mode = _Placeholders(switches, lrn=lrn, weights=self.weights, rule=rule,
                                 masks=masks)
            out = run_to(self.model, ph, [name], mode=mode)[name]
            if not out.requires_grad:
                raise Unsupported("no differentiable path")
            act = as_maps(self.acts[name])
            g = torch.zeros_like(out)
            kk = torch.arange(k, device=dev)
            if positions is None:
                as_maps(g)[kk, maps] = act[images, maps]
            else:
                y, x = positions[:, 0], positions[:, 1]
                s = getattr(out, "_zf_stride", None) or (1, 1)
                as_maps(g)[kk, maps, y - (t0 // s[0]).to(dev), x - (l0 // s[1]).to(dev)] = \
                    act[images, maps, y, x]
            grad = torch.autograd.grad(out, ph, g)[0]
        full = grad.new_zeros(k, *self.x.shape[1:])
        if h == self.x.shape[-2] and w == self.x.shape[-1]:
            return grad
        for i in range(k):  # few distinct offsets; a loop of slices is cheap
            ty, tx = int(t0[i]), int(l0[i])
            full[i, :, ty:ty + h, tx:tx + w] = grad[i]
        return full

    def _autograd(self, name, maps, positions, images, lrn, rule) -> torch.Tensor:
        distinct, local = images.unique(return_inverse=True)
        with torch.enable_grad():
            x = self.x[distinct].clone().requires_grad_(True)
            out = run_to(self.model, x, [name], mode=_Autograd(lrn, rule))[name]
            act = as_maps(self.acts[name])
            res = []
            for i in range(len(maps)):
                g = torch.zeros_like(out)
                m, im = int(maps[i]), int(images[i])
                if positions is None:
                    as_maps(g)[local[i], m] = act[im, m]
                else:
                    y, xx = (int(v) for v in positions[i])
                    as_maps(g)[local[i], m, y, xx] = act[im, m, y, xx]
                res.append(torch.autograd.grad(out, x, g, retain_graph=i + 1 < len(maps))
                           [0][local[i]])
        return torch.stack(res)


CROP_STEP = 32  # crop sides differ by multiples of this (ResNet-18 layer2: 16 px 0.95 s, 24 px
# 0.84 s, 32 px 0.78 s, 48 px 0.81 s for all 128 maps; fewer sizes batch better)


def _crops(units: torch.Tensor, geo: Geometry, align: int, side: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, size) along one axis of the crops of ``units``, in a few sizes (so that they
    batch): each starts at its receptive field's first row rounded down to ``align`` (every
    map of the crop is then a window of the full map) and is as long as it needs, rounded up
    to the longest need less a multiple of ``CROP_STEP``; one that would pass the border
    instead ends there, grown until its start is aligned. Each crop holds its unit's
    receptive field (clipped to the image)."""
    top = units * geo.stride + geo.offset
    start = top.clamp(min=0) // align * align
    need = (top + geo.size).clamp(max=side) - start
    most = int(need.max())
    size = (most - (most - need) // CROP_STEP * CROP_STEP).clamp(max=side)  # a few sizes
    fits = start + size <= side
    alt = (size + (side - size) % align).clamp(max=side)  # ends at the border, aligned
    return torch.where(fits, start, side - alt), torch.where(fits, size, alt)


def as_maps(t: torch.Tensor) -> torch.Tensor:
    """A layer's output as [N, C, H, W] (a vector layer [N, C] as 1x1 maps)."""
    return t if t.dim() == 4 else t.reshape(t.shape[0], t.shape[1], 1, 1)


def strongest_units(acts: torch.Tensor, image: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions [C, 2], values [C]) of each map's strongest activation in image ``image`` of
    a layer's outputs ``acts`` [N, C, H, W] or [N, C] (the first in raster order on ties);
    what both deconvnet traces' ``strongest`` return."""
    if isinstance(image, bool) or not 0 <= image < len(acts):
        raise ValueError(f"image {image} out of range 0..{len(acts) - 1}")
    act = as_maps(acts)[image]
    values, flat = act.flatten(1).max(1)
    w = act.shape[-1]
    return torch.stack([flat // w, flat % w], 1), values


def _window(t: torch.Tensor, images: torch.Tensor, ay: torch.Tensor, ax: torch.Tensor,
            h: int, w: int) -> torch.Tensor:
    """``t[images[k], :, ay[k]:ay[k]+h, ax[k]:ax[k]+w]`` with -1 where the window leaves
    ``t`` -> [K, C, h, w]."""
    pad = (0, max(0, int((ax + w).max()) - t.shape[-1]), 0,
           max(0, int((ay + h).max()) - t.shape[-2]))
    if any(pad):
        t = F.pad(t, pad, value=-1)
    rows = ay[:, None, None] + torch.arange(h, device=t.device)[None, :, None]
    cols = ax[:, None, None] + torch.arange(w, device=t.device)[None, None, :]
    return t[images[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def project_logit(model: nn.Module, x: torch.Tensor, targets, *, rule: str = "deconvnet",
                  lrn: str | None = None) -> torch.Tensor:
    """Each image's class logit ``targets[n]`` of any model projected back to the pixels by
    ``rule``, starting from 1 at the logit, by plain autograd with the rule at every ReLU call
    (one forward and one backward pass for all N images): [N, C, S, S]. As
    :func:`zflib.methods.deconv.project_logit`, which takes ZFNet and AlexNet on the fast path.

    Paper: Sec. 2.1 (the deconvnet, here from the output layer).
    """
    lrn = check_rule(rule, lrn)
    targets = as_indices(targets, "targets", x.device).reshape(-1)
    with torch.enable_grad():
        xx = x.detach().clone().requires_grad_(True)
        with _Autograd(lrn, rule):
            out = model(xx)
        if out.dim() != 2 or len(out) != len(x):
            raise ValueError(f"{type(model).__name__} outputs {tuple(out.shape)}; want class "
                             f"logits [{len(x)}, classes]")
        bad = targets[(targets < 0) | (targets >= out.shape[1])]
        if len(bad):
            raise ValueError(f"target class {int(bad[0])} out of range 0..{out.shape[1] - 1}")
        return torch.autograd.grad(out.gather(1, targets[:, None]).sum(), xx)[0]


@torch.no_grad()
def forward_trace(model: nn.Module, x: torch.Tensor, layers: str | int | Iterable
                  ) -> GeneralTrace:
    """Run ``model`` on ``x`` [N, C, S, S] up to the deepest of ``layers`` (module names or
    numbers into :func:`default_layers`), recording every max-pooling's switches and the
    layers' outputs.

    Paper: Sec. 2.1 ("switch" variables recorded during the forward pass).
    """
    names = [resolve_layer(model, la) for la in layer_list(layers)]
    if not names:
        raise ValueError("layers is empty; give at least one of "
                         + ", ".join(default_layers(model)))
    if x.dim() != 4:
        raise ValueError(f"x has shape {tuple(x.shape)}; want [N, C, S, S]")
    rec = _Recorder()
    acts = run_to(model, x, list(dict.fromkeys(names)), mode=rec)
    return GeneralTrace(model, x, {n: a.detach() for n, a in acts.items()}, rec.switches)


def input_side(model: nn.Module) -> int:
    """The image side ``model`` takes (its ``input_size``; 224 if it does not say)."""
    want = getattr(model, "input_size", None) or 224
    return int(want if isinstance(want, int) else want[0])


def in_channels(model: nn.Module) -> int:
    """Channels of the input: those of the first Conv2d (3 if none)."""
    return next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)


@torch.no_grad()
def channels(model: nn.Module, layer: int | str) -> int:
    """Number of maps of ``layer`` (one forward pass of a blank image, stopped there)."""
    name = resolve_layer(model, layer)
    p = next(model.parameters())
    x = torch.zeros(1, in_channels(model), input_side(model), input_side(model),
                    dtype=p.dtype, device=p.device)
    return as_maps(run_to(model, x, [name])[name]).shape[1]


def macs(model: nn.Module, x: torch.Tensor, layer: str | None = None) -> int:
    """Multiply-adds of the convolutions and linear layers of a forward pass of ``model`` on
    ``x`` (up to ``layer``'s output if given): the cost model of ``bench_deconv``'s bound
    (a convolution's backward to its input costs what its forward does)."""
    total = 0

    class Count(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nonlocal total
            out = func(*args, **(kwargs or {}))
            if func is torch.conv2d or func is F.conv2d:
                w = args[1]
                total += out.numel() * math.prod(w.shape[1:])
            elif func is F.linear:
                total += out.numel() * args[1].shape[1]
            return out

    with torch.no_grad():
        if layer is None:
            with Count():
                model(x)
        else:
            run_to(model, x, [layer], mode=Count())
    return total


__all__ = ["GeneralTrace", "Geometry", "PROJECTION_BATCH", "PROJECTION_PIXELS", "Unsupported",
           "channels",
           "default_layers", "in_channels", "input_side",
           "forward_trace", "macs", "module_names", "project_logit", "receptive_field",
           "resolve_layer", "check_activation",
           "run_to", "layer_and_output", "as_maps", "strongest_units"]
