"""zflib: reproduce and extend Zeiler & Fergus, *Visualizing and Understanding Convolutional
Networks* (ECCV 2014).

Layers, each importing only those below it (docs/architecture.md draws them from the imports;
``make lint`` enforces it with import-linter):

- ``zflib.apps``: the explorer, the atlas, ``mine`` (the command line), ``apidocs``.
- ``zflib.paper``: the reproduction: ``make figures``, the record (``RESULTS.md``), the claims,
  the training runs behind the tables.
- ``zflib.viz``: plotting only.
- ``zflib.methods``: the toolkit for any model: the deconvnet (Sec. 2.1), top-9 mining (Fig. 2),
  occlusion (Fig. 7), invariance (Fig. 5), correspondence (Fig. 8), filters (Fig. 6),
  transfer (Sec. 5), receptive fields, a subject (model, preprocessing, images).
- ``zflib.training``: the networks (ZFNet, AlexNet, ablations), the trainer, evaluation, the
  committed weights.
- ``zflib.data``: datasets and the paper's preprocessing.
- the core: ``config`` (profiles), ``memo`` (the figures' long passes kept for a rerun),
  ``checkpoint``, ``distributed``, ``results``, ``progress`` (the bars of long work).

The names of the flat layout before the layers keep working: ``from zflib import deconv,
topk, occlusion``, ``import zflib.explorer`` and ``python -m zflib.mine`` reach the modules
in their layers (:data:`MOVED`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

from zflib.config import PROFILES, Config, get_config

# module -> its layer, for the names of the flat layout (``zflib.deconv`` is
# ``zflib.methods.deconv``)
MOVED = {
    **dict.fromkeys(("activations", "deconv", "deconv_general", "incremental", "occlusion",
                     "topk", "receptive", "geometry", "invariance", "correspondence",
                     "filters", "transfer", "subject"), "methods"),
    **dict.fromkeys(("models", "artifacts", "train", "train224", "evaluate"), "training"),
    **dict.fromkeys(("figures", "record", "claims", "quotes", "runs", "scratch",
                     "architecture", "tables56", "occlusion_boxes"), "paper"),
    **dict.fromkeys(("explorer", "atlas", "mine", "apidocs"), "apps"),
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``zflib.<old name>`` is the module ``zflib.<layer>.<name>`` itself (the same object in
    ``sys.modules``, so a patch through either name is seen through both); ``python -m`` runs
    its code as ``__main__``."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix != "zflib" or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    @staticmethod
    def _target(fullname: str) -> str:
        name = fullname.partition(".")[2]
        return f"zflib.{MOVED[name]}.{name}"

    def create_module(self, spec):
        return importlib.import_module(self._target(spec.name))

    def exec_module(self, module) -> None:
        pass  # the real module ran when it was imported

    def get_code(self, fullname):  # for ``python -m zflib.<old name>`` (runpy)
        target = importlib.util.find_spec(self._target(fullname))
        return target.loader.get_code(target.name)


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.append(_Alias())


def __getattr__(name: str):
    """``from zflib import deconv``: the module from its layer."""
    if name in MOVED:
        return importlib.import_module(f"zflib.{name}")
    raise AttributeError(f"module 'zflib' has no attribute {name!r}")


__all__ = ["PROFILES", "Config", "get_config", "MOVED"]
__version__ = "0.1.0"
