"""experiments.serialize.jsonable: what the studies write is plain JSON that reads back to the same numbers."""
import json
import math

import numpy as np

from ifexplorer.experiments.serialize import jsonable


def test_numpy_values_become_json_and_non_finite_floats_none():
    value = {1: (np.float64(0.25), np.int64(3), np.bool_(True)), "a": np.arange(3.0),
             "b": [math.nan, np.float32(-math.inf), 2.5], "c": "text", "d": None}
    out = json.loads(json.dumps(jsonable(value), allow_nan=False))
    assert out == {"1": [0.25, 3, True], "a": [0.0, 1.0, 2.0], "b": [None, None, 2.5], "c": "text", "d": None}
    assert type(out["1"][1]) is int and type(out["1"][2]) is bool
