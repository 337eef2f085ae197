"""What every ``graphlab`` command shares: loading a checked graph, the
context that collects warnings and prints the result, reading values, and
formatting them.

Conventions (SPEC section 3): errors go to standard error as ``error: FILE:
node 'ID': what is wrong`` with exit status 1; usage errors exit 2 (raise
:class:`Usage`, or give argparse a type such as :func:`positive_int`);
warnings go to standard error as ``warning: FILE: node 'ID': ...``. With
``--json`` a command prints one JSON object on standard output and nothing
else (:meth:`Context.emit`).
"""

import argparse
import json
import sys

import numpy as np

from .. import io
from ..errors import GraphlabError
from ..tojson import jsonable

__all__ = ["parse_value", "assignments", "Usage", "positive_int", "format_value",
           "load_checked", "checked", "Context", "jsonable"]


# ---- values -------------------------------------------------------------------------

def parse_value(text):
    """A ``--feed``/``--at`` VALUE: a number, a JSON list, or a ``.npy`` path."""
    text = text.strip()
    if text.endswith(".npy"):
        try:
            value = np.load(text, allow_pickle=False)
        except OSError as e:
            raise GraphlabError(f"cannot read {text}: {e.strerror or e}") from None
        except (ValueError, EOFError) as e:  # pickled objects, a damaged header
            raise GraphlabError(f"cannot read {text}: {e}; give a .npy file of "
                                "numbers, saved with numpy.save") from None
        if not isinstance(value, np.ndarray):  # an .npz archive
            value.close()
            raise GraphlabError(f"cannot read {text}: it is an .npz archive, not one "
                                "array (.npy)")
        return value
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise GraphlabError(f"cannot read the value {text!r}: give a number, a JSON "
                            "list such as [1, 2], or a path to a .npy file") from None
    except (ValueError, RecursionError) as e:  # over 4,300 digits; deep nesting
        raise GraphlabError(f"cannot read the value: {str(e).split(';')[0]}") from None


def assignments(pairs, flag):
    """``["x=1", "y=[1, 2]"]`` given to ``flag`` → ``{"x": 1, "y": [1, 2]}``."""
    out = {}
    for pair in pairs or []:
        node, sep, value = pair.partition("=")
        if not sep or not node:
            raise Usage(f"{flag} takes ID=VALUE, got {pair!r}")
        out[node.strip()] = parse_value(value)
    return out


class Usage(Exception):
    """A usage error (exit status 2), raised by a command after parsing."""


def positive_int(text):
    """An argparse type: a whole number of 1 or more (else a usage error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") \
            from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def format_value(v, max_items=12):
    """A value for a terminal: a number, or a short array with its shape."""
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{a.item():.6g}"
    if a.size <= max_items:
        return _nested(a)
    return (f"array of shape {'×'.join(map(str, a.shape))} (mean {a.mean():.4g}, "
            f"min {a.min():.4g}, max {a.max():.4g})")


def _nested(a):
    if a.ndim == 0:
        return f"{a.item():.4g}"
    return "[" + ", ".join(_nested(x) for x in a) + "]"


# ---- graphs and output --------------------------------------------------------------

def load_checked(path, ctx):
    """Load and check the graph file ``path``; its warnings go to ``ctx``."""
    return checked(io.load(path), ctx)


def checked(g, ctx):
    """``g`` after its check; its warnings go to ``ctx``."""
    for node, message in g.check():
        ctx.warn(message, node)
    return g


class Context:
    """One command's run: its arguments, the file it is about, its warnings.

    ``warn`` prints a warning line and keeps it for ``--json``; ``emit``
    prints the result: ``text``, or ``obj`` as one strict JSON object (with
    the warnings) under ``--json``.
    """

    def __init__(self, args):
        self.args = args
        self.file = None
        self.warnings = []

    def warn(self, message, node=None):
        where = ": ".join(p for p in (self.file, f"node '{node}'" if node else None)
                          if p)
        self.warnings.append({"file": self.file, "node": node, "message": message})
        print(f"warning: {where}: {message}" if where else f"warning: {message}",
              file=sys.stderr)

    def emit(self, obj, text):
        if self.args.json:
            obj = dict(obj)
            obj.setdefault("warnings", [w["message"] if not w["node"] else
                                        f"node '{w['node']}': {w['message']}"
                                        for w in self.warnings])
            print(json.dumps(jsonable(obj), allow_nan=False))
        else:
            print(text)
