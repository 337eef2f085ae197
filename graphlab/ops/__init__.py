"""The op catalog: every op of SPEC section 2, one class each, by family.

Importing the package imports every family module, in palette order, so that
their ops are registered before anything asks :func:`get_op` for one (any
``graphlab.ops.<module>`` import runs this file first).
"""

from . import sources  # noqa: F401  (the families register their ops)
from . import arithmetic  # noqa: F401
from . import activations  # noqa: F401
from . import linalg  # noqa: F401
from . import conv  # noqa: F401
from . import pooling  # noqa: F401
from . import regularisation  # noqa: F401
from . import sequence  # noqa: F401
from . import recurrent  # noqa: F401
from . import losses  # noqa: F401
from .base import (FAMILIES, REQUIRED, Attr, Ctx, Op, get_op, op_names,
                   ops_by_family, register, unbroadcast)

__all__ = ["FAMILIES", "REQUIRED", "Attr", "Ctx", "Op", "get_op", "op_names",
           "ops_by_family", "register", "unbroadcast"]
