"""graphlab: neural networks as node graphs, the chain rule shown, training for real.

>>> import graphlab as gl
>>> g = gl.load("samples/cs231n.graph.json")
>>> prog = gl.compile(g, dtype="float64")
>>> float(prog.forward({"x": -2, "y": 5, "z": -4})["f"])
-12.0
"""

import os as _os
import sys as _sys

try:
    from .builder import GraphBuilder
    from .errors import (AttrError, CycleError, DuplicateEdgeError, ExecutionError,
                         FileFormatError, GraphError, GraphlabError, LoweringError,
                         PortError, ShapeError, TrainingError)
    from .graph import Edge, Graph, Node
    from .io import dumps, load, loads, save
    from .onnx import from_onnx, to_onnx
    from .ops import get_op, op_names, ops_by_family
    from .program import Program, compile
    from .symbolic import explain
    from .torch import from_torch_state, to_torch
    from .train import Callback, History, Trainer
    from .backends import train
except KeyboardInterrupt:
    # Ctrl-C while the command line is still importing: exit as the command
    # does when interrupted (130), without a traceback. A program importing
    # graphlab gets its KeyboardInterrupt.
    if _sys.argv[:1] == ["-m"] or _os.path.basename(
            _sys.argv[0] if _sys.argv else "").startswith("graphlab"):
        print("interrupted", file=_sys.stderr)
        raise SystemExit(130) from None
    raise

__version__ = "0.1.0"

__all__ = [
    "GraphBuilder", "Graph", "Node", "Edge", "load", "loads", "save", "dumps",
    "compile", "Program", "explain", "train", "Trainer", "History", "Callback",
    "get_op", "op_names", "ops_by_family",
    "from_onnx", "to_onnx", "to_torch", "from_torch_state",
    "GraphlabError", "GraphError", "FileFormatError", "CycleError", "PortError",
    "DuplicateEdgeError", "AttrError", "ShapeError", "LoweringError",
    "ExecutionError", "TrainingError",
]
