"""Using a trained run: predictions, evaluation, exports (ONNX, a PyTorch program, a ZIP bundle) and HTTP serving."""

DEFAULT_TOP = 10  # items recommended per user unless asked otherwise
MAX_TOP = 100
