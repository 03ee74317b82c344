"""zflib: reproduce and extend Zeiler & Fergus, *Visualizing and Understanding Convolutional
Networks* (ECCV 2014).

Modules, one job each (``make docs`` builds the reference of them all): ``config`` (profiles),
``models`` (ZFNet, AlexNet, ablations), ``data`` (datasets and the paper's preprocessing),
``train`` (the paper's trainer), ``deconv`` (the deconvnet, Sec. 2.1), ``deconv_general``
(the deconvnet for any model: ResNet, DenseNet), ``topk`` (top-9 mining,
Fig. 2), ``occlusion`` (Fig. 7), ``incremental`` (occlusion's incremental inference),
``occlusion_boxes`` (Fig. 7's claim measured against object boxes),
``invariance`` (Fig. 5), ``correspondence`` (Fig. 8, Table 1),
``transfer`` (Tables 4 and 7, Fig. 9), ``explorer`` (the interactive explorer), ``figures``
(``make figures``), ``memo`` (the figures' long passes kept for a rerun), ``record``
(``RESULTS.md``), ``viz`` (plotting only).
"""

from zflib.config import PROFILES, Config, get_config

__all__ = ["PROFILES", "Config", "get_config"]
__version__ = "0.1.0"
