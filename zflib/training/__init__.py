"""The networks and how they learn: ``models`` (ZFNet, AlexNet and the paper's ablations,
Sec. 3 and Table 3), ``train`` (the paper's trainer, Sec. 3; DDP under ``torchrun``),
``train224`` (ZFNet-224 at Fig. 3's geometry), ``evaluate`` (10-crop errors, Table 2) and
``artifacts`` (the committed weights, written and read with their configuration).

May import: ``zflib.data`` and the core (``config``, ``checkpoint``, ``distributed``,
``results``). Never the toolkit, the pictures, the paper or the apps.
"""
