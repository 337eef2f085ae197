"""Values to strict JSON: the one converter behind ``--json``, graph files and
the chain-rule view's JSON.

NumPy arrays become nested lists, NumPy scalars plain numbers, tuples lists,
dictionary keys strings; NaN and ±∞, which JSON cannot hold, become ``null``.
"""

import math

import numpy as np

__all__ = ["jsonable"]


def jsonable(value):
    """``value`` as plain JSON data (dicts, lists, numbers, strings, None).

    Parameters
    ----------
    value : object
        Nested dicts, lists and tuples of arrays, NumPy scalars and plain values.

    Returns
    -------
    object
        The same structure that ``json.dumps(..., allow_nan=False)`` accepts:
        non-finite numbers are ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"x": np.array([1.0, np.nan]), "n": np.int64(3), "s": (1, -np.inf)})
    {'x': [1.0, None], 'n': 3, 's': [1, None]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return jsonable(value.astype(object).tolist())
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
