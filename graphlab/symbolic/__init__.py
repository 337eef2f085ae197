"""The chain rule, derived with SymPy: forward and backward steps of any graph.

``explain(graph, at)`` returns an :class:`Explanation`: the forward steps
(``q = x + y = 3``), the backward steps (local gradient × upstream gradient
along each edge, and the sum wherever a value feeds several nodes), the
gradients, and renderings as text, LaTeX and JSON. The GUI's stepper and the
``graphlab explain`` command both use it. Formulas come from the ops'
declarations (``sympy`` for elementwise ops, ``formulas`` for tensor ops);
numbers come from the node-by-node interpreter in float64, and every step's
formula is checked against them.
"""

from .analysis import Jacobian, LayerNorm
from .collapse import Collapse, CollapseRefused, collapse
from .steps import BackwardStep, Explanation, ForwardStep, SumStep, explain, unroll
from .unroll import BPTTStep, Unrolled

__all__ = ["explain", "Explanation", "ForwardStep", "BackwardStep", "SumStep",
           "Jacobian", "LayerNorm", "collapse", "Collapse", "CollapseRefused",
           "unroll", "Unrolled", "BPTTStep"]
