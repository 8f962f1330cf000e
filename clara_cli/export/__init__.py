"""Export of trained networks to TorchScript and ONNX."""
