"""Tables given as torch tensors, read as the numbers they hold: numpy (which every reader of rows
goes through) cannot take a tensor that requires grad, one on a GPU, or a bfloat16 one."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["host_array"]


def host_array(value: Any) -> Any:
    """``value`` as a numpy array where it is a dense torch tensor: detached from autograd (the caller's
    tensor and its graph are left as they were), copied to the host, bfloat16 widened to float32
    (exactly; numpy has no bfloat16). Anything else, a sparse tensor too, is returned as given.

    >>> import torch
    >>> host_array(torch.ones(2, 1, dtype=torch.bfloat16, requires_grad=True)).tolist()
    [[1.0], [1.0]]
    >>> host_array([[1.0]])
    [[1.0]]
    """
    torch = sys.modules.get("torch")  # not imported: no tensor can have been made
    if torch is None or not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        return value
    value = value.detach().cpu()
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
