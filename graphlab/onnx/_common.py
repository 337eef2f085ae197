"""What every part of graphlab.onnx shares: the onnx import, the opsets, the
op table's registry and the helpers its rows use. The lowest module of the
package (the others import it, it imports none of them).
"""

import numpy as np

from ..errors import GraphlabError

__all__ = ["require_onnx", "DEFAULT_OPSET", "MIN_OPSET", "MAX_OPSET", "Refused",
           "Mapping", "mapping", "EXPORTS", "IMPORTS", "attributes", "check_attrs",
           "axis_of", "reshape_target"]

DEFAULT_OPSET = 18
MIN_OPSET = 17  # SPEC section 5: opsets 17 and newer
MAX_OPSET = 25  # the newest that onnxruntime 1.32 runs (issue 22)


def require_onnx():
    """The ``onnx`` module, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise GraphlabError("ONNX support needs the onnx package: pip install "
                            "graphlab[onnx]") from None
    return onnx


class Refused(Exception):
    """Raised by a mapping: the node cannot be imported exactly (the reason)."""


EXPORTS = {}  # graphlab op → Mapping
IMPORTS = {}  # ONNX op type → Mapping


class Mapping:
    """One row of the op table: the graphlab ops it exports (``graphlab``) and
    the ONNX op types it imports (``onnx``), both directions in one place,
    ``export(ex)`` on an :class:`~graphlab.onnx.exporter.Exporter` positioned
    on one graphlab node and ``import_(im)`` on an
    :class:`~graphlab.onnx.importer.Importer` positioned on one ONNX node."""

    graphlab = ()
    onnx = ()

    def export(self, ex):
        ex.refuse(f"{ex.graph.node(ex.node_id).op} has no ONNX form")

    def import_(self, im):
        raise Refused(f"graphlab has no op for {im.node.op_type}")


def mapping(cls):
    """Class decorator: register a mapping under its ops, both directions."""
    m = cls()
    for op in cls.graphlab:
        assert op not in EXPORTS, op
        EXPORTS[op] = m
    for op in cls.onnx:
        assert op not in IMPORTS, op
        IMPORTS[op] = m
    return cls


def attributes(node):
    """``{name: value}`` of an ONNX node's attributes."""
    from onnx import helper
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, list):
            v = [x.decode() if isinstance(x, bytes) else x for x in v]
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def check_attrs(im, allowed, defaults=None):
    """The node's attributes; refuses any not in ``allowed`` unless it has its
    default value (``defaults``)."""
    attrs = attributes(im.node)
    defaults = defaults or {}
    for k, v in attrs.items():
        if k in allowed:
            continue
        if k in defaults and _same(v, defaults[k]):
            continue
        raise Refused(f"{k}={_show(v)} is not supported")
    return attrs


def _same(a, b):
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def _show(v):
    return v if not isinstance(v, (list, tuple)) else list(v)


def axis_of(axis, rank):
    if not -rank <= axis < rank:
        raise Refused(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def reshape_target(in_shape, shape):
    """Graphlab's Reshape ``shape`` attribute for a known output ``shape``:
    the input's leading size as ``"N"``, one other unknown size as -1."""
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, (int, np.integer)):
            out.append(int(d))
        elif in_shape and d == in_shape[0] and "N" not in out:
            out.append("N")
        else:
            out.append(-1)
    if out.count(-1) > 1:
        raise Refused(f"the shape {list(shape)} has more than one size known only at "
                      "run time")
    return out
