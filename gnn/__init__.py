"""Graph building from windows, the model definition (torch, training only), ONNX inference and post-processing."""
