"""The applications: ``explorer`` (the ipywidgets explorer, also served by Voila), ``atlas`` (a
static page for every map of a model), ``mine`` (the top-9 of any model from the command line),
``apidocs`` (``make docs``) and ``architecture_map`` (the layers picture of
docs/architecture.md).

The top layer: may import every other; nothing in ``zflib`` imports it.
"""
