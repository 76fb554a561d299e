"""The model zoo: one module per model, found by engine.models.registry, so a model is added in one file.

A model module holds, in this order: its config class (a subclass of engine.models.configs.ModelConfigBase whose
`name` is a Literal of the model's name; the New run page's form and `--set model.*` read its fields), its size
function (parameters and activations by arithmetic, engine.models.estimate's helpers, no torch), what the presets
give it (model settings per preset, and training settings that differ from its kind's, each with the measurements
that chose them), the sentence shown when it is suggested, and `MODEL = ModelEntry(...)` tying them together with
its title, kinds of data, order in the lists and its builder, named as "module:function" so that torch is imported
only when a model is built. A module without `MODEL` holds what several models share (recurrent.py).

Pure Python: the dashboard imports every module here, so none may import torch at module level, nor the registry.
"""
