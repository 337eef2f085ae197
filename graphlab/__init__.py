"""graphlab: neural networks as node graphs, the chain rule shown, training for real."""

from .errors import (AttrError, CycleError, DuplicateEdgeError, ExecutionError,
                     FileFormatError, GraphError, GraphlabError, LoweringError,
                     PortError, ShapeError, TrainingError)
from .ops import get_op, op_names, ops_by_family

__version__ = "0.1.0"
