"""One place that decides where the math runs (cuda or cpu), in which dtype, and whether it fits.

float64 is the default everywhere: the leave-one-out identities divide by diag(Q), which loses
precision as fast as A = H + λI is ill-conditioned. float32 is accepted only on a GPU, where the
caller asks for it explicitly.
"""
from __future__ import annotations

import numpy as np
import torch

from .memory import host_available_bytes

_DEVICE_CHOICES = ("auto", "cpu", "cuda")


class InsufficientMemoryError(ValueError):
    """Raised before allocating when a computation would not fit in the device's memory."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for a user setting: "auto" (cuda if available), "cpu", "cuda[:k]"."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be one of {_DEVICE_CHOICES} or 'cuda:N'; got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available on this machine; "
                             "use 'cpu' or 'auto'")
        return torch.device(name)
    raise ValueError(f"device must be one of {_DEVICE_CHOICES} or 'cuda:N'; got {device!r}")


def resolve_dtype(dtype, device: torch.device) -> torch.dtype:
    """float64 unless float32 is asked for explicitly on a GPU (CPU float32 is refused: no speed gain
    worth the lost digits there)."""
    if dtype in (np.float64, np.float32, float):
        dtype = np.dtype(dtype).name
    if dtype is None or dtype in ("float64", "double", "float", torch.float64):
        return torch.float64
    if dtype in ("float32", "single", torch.float32):
        if device.type != "cuda":
            raise ValueError("float32 is only allowed on a GPU; on the CPU use float64 (dtype=None)")
        return torch.float32
    raise ValueError(f"dtype must be None, 'float64' or 'float32' (or the numpy / torch dtype); got {dtype!r}")


def device_label(device: torch.device | str = "auto") -> str:
    """Human-readable name: the GPU's name, or "CPU (k threads)"."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def available_bytes(device: torch.device) -> int:
    """Bytes that can still be allocated on the device (free GPU memory, or the OS's MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return host_available_bytes()


def format_bytes(nbytes: float) -> str:
    """1.5e9 -> '1.50 GB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{int(nbytes)} B"


def check_fits(nbytes: int, device: torch.device, what: str, headroom: float = 0.9) -> None:
    """Raise InsufficientMemoryError if `nbytes` exceed `headroom` × the device's free memory."""
    have = available_bytes(device)
    if nbytes > headroom * have:
        raise InsufficientMemoryError(
            f"{what} needs about {format_bytes(nbytes)} of memory on {device_label(device)}, "
            f"but only {format_bytes(have)} is free; use fewer points (memory grows as n²)"
        )
