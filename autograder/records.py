"""The only data that crosses from a student's sandbox to the trusted grader.

Probes send what they observed (arrays, numbers, strings, nested in lists
and dicts) as JSON, and so do the student's calls of served functions (their
arguments); arrays travel as base64 bytes with a whitelisted dtype.
Nothing is ever unpickled or evaluated on the trusted side, and sizes are
capped, so a hostile record can at worst fail to decode.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from autograder.settings import MAX_ARRAY_ELEMENTS, MAX_RECORD_BYTES  # noqa: F401
DTYPES = {"float64", "float32", "float16", "complex128", "complex64", "int64", "int32", "bool"}


class Unreadable:
    """Stands for a value that was not numeric data (a string, an object); comparisons fail cleanly."""

    def __init__(self, description: str):
        self.description = description

    def __array__(self, *args, **kwargs):
        raise TypeError(f"not an array of numbers but {self.description}")

    def __repr__(self) -> str:
        return f"<{self.description}>"


class ServedRef:
    """A served function passed back as an argument (``hvp(f, x, v)`` with the ``f`` the grader served)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<served {self.name}>"


def encode(value):
    """Student-side: turn an observation into JSON-able data."""
    if type(value).__name__ == "Proxy" and type(value).__module__ == "autograder.agent":
        return {"served": str(value.name)}
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)) and (not value or not _numeric(value)):
        return {"list": [encode(v) for v in value]}  # an empty list stays a list: it says nothing of numbers
    if value is None or isinstance(value, (bool, str)):
        return {"value": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"value": value if np.isfinite(value) else repr(value), "kind": "number"}
    try:
        array = np.asarray(value)
    except Exception:
        array = None
    if array is None or array.dtype.name not in DTYPES:
        return {"unreadable": f"a {type(value).__name__}"}
    return {"array": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode(),
            "dtype": array.dtype.name, "shape": list(array.shape)}


def _numeric(value) -> bool:
    try:
        return np.asarray(value).dtype.name in DTYPES
    except Exception:
        return False


def decode(data, depth: int = 0):
    """Trusted side: rebuild an observation, refusing anything unexpected."""
    if depth > 20 or not isinstance(data, dict) or len(data) > 3:
        return Unreadable("malformed record")
    if "dict" in data and isinstance(data["dict"], dict):
        return {k: decode(v, depth + 1) for k, v in data["dict"].items()}
    if "list" in data and isinstance(data["list"], list):
        return [decode(v, depth + 1) for v in data["list"]]
    if "value" in data:
        value = data["value"]
        if data.get("kind") == "number":
            return float(value) if isinstance(value, str) and value in ("nan", "inf", "-inf") else value
        return value if value is None or isinstance(value, (bool, str, int, float)) else Unreadable("malformed")
    if "array" in data:
        dtype, shape = data.get("dtype"), data.get("shape")
        if dtype not in DTYPES or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            return Unreadable("malformed array")
        if int(np.prod(shape)) > MAX_ARRAY_ELEMENTS:
            return Unreadable("an array too large to check")
        raw = base64.b64decode(data["array"])
        if len(raw) != int(np.prod(shape)) * np.dtype(dtype).itemsize:
            return Unreadable("malformed array")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if "served" in data and isinstance(data["served"], str):
        return ServedRef(data["served"][:100])
    if "unreadable" in data:
        return Unreadable(str(data["unreadable"])[:100])
    return Unreadable("malformed record")


def dumps(observations: list) -> str:
    return json.dumps([encode(o) for o in observations])


def loads(text: str) -> list:
    if len(text) > MAX_RECORD_BYTES:
        raise ValueError("record too large")
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("record is not a list")
    return [decode(item) for item in data]
