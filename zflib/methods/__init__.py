"""The toolkit: what zflib does to any model, the paper's or yours.

Modules: ``activations`` (recording a layer's maps), ``deconv_steps`` (the backward steps and
checks both deconvnet paths share), ``deconv`` (the deconvnet on a plain chain, Sec. 2.1),
``deconv_general`` (the same rules on any model through autograd: ResNet, DenseNet),
``receptive`` (receptive fields and patches), ``topk`` (top-9 mining, Fig. 2), ``occlusion``
and ``incremental`` (Sec. 4.2, Fig. 7), ``invariance`` (Fig. 5), ``correspondence``
(Sec. 5.2, Fig. 8, Table 1), ``filters`` (first-layer spectra, Fig. 6), ``geometry`` (sizes
through a network, Fig. 3), ``transfer`` (features and classifiers on new data, Sec. 5),
``subject`` (a model, its preprocessing and its images: what every tool is pointed at).

May import: ``zflib.training`` (the networks and their weights), ``zflib.data``, and the core
(``config``, ``checkpoint``, ``distributed``, ``results``, ``memo``). Never ``viz``, ``paper`` or
``apps``: a user's own model reaches only this layer and below.
"""
