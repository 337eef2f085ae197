"""ONNX: graphlab's door in and out (SPEC section 5).

:func:`from_onnx` reads an ONNX model into a :class:`~graphlab.Graph` and
:func:`to_onnx` writes a graph as an ONNX model, with the executor's numbers.
Both directions read one table of op mappings (:mod:`graphlab.onnx.table`),
each mapping written once. ``onnx`` (and ``onnxruntime`` for running the
exported model) are the optional extra ``graphlab[onnx]``: they are imported
when these functions are called, never when graphlab is imported.
"""

from ._common import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, require_onnx

__all__ = ["from_onnx", "to_onnx", "require_onnx", "DEFAULT_OPSET", "MIN_OPSET",
           "MAX_OPSET"]


def from_onnx(path_or_model, *, name=None):
    """Read an ONNX model as a graph.

    Parameters
    ----------
    path_or_model : str, os.PathLike or onnx.ModelProto
    name : str, optional
        The graph's name (default: the model's graph name or file name).

    Returns
    -------
    Graph
        Graph inputs become ``Input`` nodes (a dynamic first dimension becomes
        ``"N"``), initializers ``Parameter`` nodes whose values are in
        ``graph.params``; nodes are grouped (``ui.group``) by the module
        that made them and laid out.

    Raises
    ------
    GraphError
        Naming the ONNX node (name and op type) and the reason, for anything
        graphlab cannot represent exactly.

    Examples
    --------
    >>> import graphlab as gl
    >>> g = gl.from_onnx("model.onnx")  # doctest: +SKIP
    """
    from .importer import import_model
    return import_model(path_or_model, name=name)


def to_onnx(graph, path=None, outputs=None, opset=None):
    """Write a graph as an ONNX model.

    Parameters
    ----------
    graph : Graph
    path : str or os.PathLike, optional
        Where to write it (atomically); ``None`` only returns the model.
    outputs : list of str, optional
        Node ids (or ``node:port``) to export as the model's outputs; default
        the graph's outputs, losses included.
    opset : int, optional
        ONNX opset, 17 to 25 (default 18).

    Returns
    -------
    onnx.ModelProto
        A model that ``onnx.checker.check_model(full_check=True)`` accepts and
        onnxruntime runs with the executor's numbers (evaluation mode: Dropout
        off, BatchNorm's running statistics). ``"N"`` becomes a dynamic
        dimension.

    Raises
    ------
    GraphError
        Naming the node whose op or attribute has no ONNX form.
    """
    from .exporter import export_model
    return export_model(graph, path, outputs=outputs, opset=opset)
