"""A training that ran out of memory: telling it from other failures, and what ``dhag train`` says then."""

from __future__ import annotations

import re

import torch

__all__ = ["is_out_of_memory", "out_of_memory_message"]

# torch's CPU allocator says "can't allocate memory"; its CUDA one, in builds or paths that raise a
# plain RuntimeError (cuBLAS, older releases), "out of memory".
_SAID = re.compile(r"can't allocate memory|out of memory", re.IGNORECASE)
# "Tried to allocate 2.50 GiB", "you tried to allocate 8589934592 bytes", numpy's "Unable to allocate 89 GiB".
_ASKED = re.compile(r"allocate (\d[\d.]* ?(?:[KMGTP]i?B|bytes))")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: torch's ``OutOfMemoryError`` (an accelerator's), a
    ``MemoryError`` (Python's, numpy's) or a ``RuntimeError`` of torch's allocator that says so.

    >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"))
    True
    >>> is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x3 and 4x64)"))
    False
    """
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and bool(_SAID.search(str(exc)))


def out_of_memory_message(
    exc: BaseException, *, rows: int, features: int, device: str, batch_size: int, out: str
) -> str:
    """What ``dhag train`` says when training ``rows`` x ``features`` on ``device`` ran out of memory:
    one paragraph, with the size asked for when ``exc`` gives it, and what to change.

    >>> print(out_of_memory_message(MemoryError("Unable to allocate 89.4 GiB for an array"), rows=900_000,
    ...                             features=40, device="cpu", batch_size=256, out="m.dhag"))
    ... # doctest: +NORMALIZE_WHITESPACE
    out of memory training 900,000 rows x 40 features on cpu (it asked for 89.4 GiB more). The rows,
    one-hot encoded, and the networks must fit in this machine's memory: train on fewer rows (a sample,
    or a shorter stretch of time), with a smaller --batch-size (now 256), or on a machine with more
    memory free; nothing was written to m.dhag.
    """
    asked = _ASKED.search(str(exc))
    more = f" (it asked for {asked.group(1)} more)" if asked else ""
    accelerator = not device.startswith("cpu")
    where = "the device's memory" if accelerator else "this machine's memory"
    instead = (
        "on the CPU (--device cpu), whose memory is usually larger"
        if accelerator
        else "on a machine with more memory free"
    )
    return (
        f"out of memory training {rows:,} rows x {features:,} features on {device}{more}. The rows, "
        f"one-hot encoded, and the networks must fit in {where}: train on fewer rows (a sample, or a "
        f"shorter stretch of time), with a smaller --batch-size (now {batch_size}), or {instead}; "
        f"nothing was written to {out}."
    )
