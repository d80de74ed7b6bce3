"""Datasets, the training loop, blocked evaluation with baselines, ONNX export and the model registry."""
