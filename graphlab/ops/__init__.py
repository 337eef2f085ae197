"""The op catalog: every op of SPEC section 2, one class each, by family."""

from .base import (FAMILIES, REQUIRED, Attr, Ctx, Op, get_op, op_names,
                   ops_by_family, register, unbroadcast)

__all__ = ["FAMILIES", "REQUIRED", "Attr", "Ctx", "Op", "get_op", "op_names",
           "ops_by_family", "register", "unbroadcast"]
