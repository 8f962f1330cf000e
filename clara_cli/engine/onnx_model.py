"""An exported ONNX model (`models/model.onnx`) run by onnxruntime behind a torch module, so
the inferers (sliding window, slice by slice) call it like any network."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clara_cli.errors import ConfigError

log = logging.getLogger("clara")


class OnnxModule(torch.nn.Module):
    """Runs an onnxruntime session on CPU; inputs and outputs stay torch tensors on the
    caller's device. Multi-output models return a tuple, like the exported network."""

    def __init__(self, session: Any, path: Path) -> None:
        super().__init__()
        self.session = session
        self.path = path
        self.input_name = session.get_inputs()[0].name

    def forward(self, inputs: torch.Tensor) -> Any:
        array = inputs.detach().to("cpu", torch.float32).numpy()
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(array)})
        tensors = [torch.from_numpy(np.asarray(out)).to(inputs.device) for out in outputs]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)


def load_onnx(path: Path) -> OnnxModule:
    """The ONNX model at `path`, ready to call.

    Raises:
        ConfigError: the file is missing, onnxruntime is not installed, or the file is not
            an ONNX model.
    """
    if not path.is_file():
        raise ConfigError(
            f"ONNX model not found: {path}\n"
            "  export one with `clara export -m MMAR --format onnx`, or choose another model "
            "with --model ckpt|ts|pt2"
        )
    try:
        import onnxruntime
    except ImportError as err:
        raise ConfigError(
            f"running an ONNX model needs the optional package onnxruntime ({err})\n"
            "  pip install 'clara-mmar[onnx]', or choose another model with --model ckpt|ts|pt2"
        ) from None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for bad files
        raise ConfigError(f"{path} is not a loadable ONNX model: {err}") from None
    log.info("loading the ONNX model %s (onnxruntime, CPU)", path)
    return OnnxModule(session, path).eval()
