"""zflib: reproduce and extend Zeiler & Fergus, *Visualizing and Understanding Convolutional
Networks* (ECCV 2014).

Modules, one job each: ``config`` (profiles), ``models`` (ZFNet, AlexNet, ablations), ``data``
(datasets and the paper's preprocessing), ``train`` (the paper's trainer), ``checkpoint``
(atomic, verified checkpoints), ``artifacts`` (committed weights and results).
"""

from zflib.config import PROFILES, Config, get_config

__all__ = ["PROFILES", "Config", "get_config"]
__version__ = "0.1.0"
