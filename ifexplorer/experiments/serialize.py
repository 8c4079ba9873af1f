"""JSON for the studies' results (network check, fragility, the peers benchmark): one conversion rule."""
from __future__ import annotations

import math

import numpy as np


def jsonable(obj):
    """obj with numpy arrays and scalars as Python lists / numbers, dict keys as strings, tuples as lists and every
    non-finite float as None (JSON has no NaN); anything else unchanged."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
