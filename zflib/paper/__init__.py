"""The reproduction: what exists for the paper's figures and tables and their record.

``figures`` (``make figures``: the notebooks through papermill), ``folders`` (where a record's
files live), ``record`` (``RESULTS.md``), ``claims`` (each claim of the paper checked by a
stated rule), ``quotes`` (numbers quoted in README and docs, refreshed from the record), ``runs``
(the training runs behind Tables 2 and 3), ``scratch`` (Table 4's from-scratch baseline),
``architecture`` (Tables 2 and 3), ``tables56`` (Tables 5 and 6), ``occlusion_boxes`` (Fig. 7's
claim against object boxes).

May import: ``zflib.viz``, ``zflib.methods``, ``zflib.training``, ``zflib.data`` and the core.
Never ``zflib.apps``.
"""
