"""The op table, assembled: every row module registered, looked up by op.

Rows live in :mod:`graphlab.onnx.table` (elementwise, linear algebra, shapes),
:mod:`~graphlab.onnx.table_nn` (layers), :mod:`~graphlab.onnx.table_rnn`
(recurrent layers, losses) and :mod:`~graphlab.onnx.fold` (constants and data
movement); importing them registers them in :mod:`graphlab.onnx._common`.
"""

from ..errors import GraphError
from . import fold, table, table_nn, table_rnn  # noqa: F401  (they register rows)
from ._common import EXPORTS, IMPORTS

__all__ = ["export_mapping", "import_mapping", "EXPORTS", "IMPORTS"]


def export_mapping(op, node_id):
    """The mapping that exports graphlab op ``op`` (the node is named if none)."""
    try:
        return EXPORTS[op]
    except KeyError:
        raise GraphError(f"{op} has no ONNX form: graphlab cannot export it",
                         node=node_id) from None


def import_mapping(op_type, opset):
    """The mapping that imports ONNX op type ``op_type``, or None."""
    return IMPORTS.get(op_type)
