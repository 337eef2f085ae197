"""The ``graphlab`` command (SPEC section 3): one module per command or small
group of commands, each importing :mod:`graphlab.cli.common` and the core,
never the other way round.

Adding a command is one module and one line: write
``add_<name>_command(command)`` (it calls ``command(name, func, help, file=True)``, which returns the argparse
subparser to add options to; ``func(args, ctx)`` returns the exit status), and
list it in :data:`COMMANDS` as ``"module:function"``.
"""

import argparse
import importlib
import sys

from ..errors import GraphlabError
from .common import Context, Usage, format_value, jsonable, parse_value

__all__ = ["main", "main_test", "parse_value", "format_value", "jsonable", "COMMANDS"]

# The commands, in the order ``graphlab --help`` lists them.
COMMANDS = (
    "graphlab.cli.basic:add_basic_commands",  # check, run, grad, codegen, ops
    "graphlab.cli.explain:add_explain_command",
    "graphlab.cli.train:add_train_command",
    "graphlab.cli.bench:add_bench_command",
    "graphlab.cli.test:add_test_command",
    "graphlab.cli.interop:add_import_command",
    "graphlab.cli.interop:add_export_command",
    "graphlab.cli.generate:add_generate_command",
)


def _parser():
    p = argparse.ArgumentParser(
        prog="graphlab",
        description="Build neural networks as node graphs, watch the chain rule, "
                    "train.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name, func, help, file=True):
        c = sub.add_parser(name, help=help, description=help)
        if file:
            c.add_argument("file", metavar="FILE", help="a .graph.json file")
        c.add_argument("--json", action="store_true",
                       help="print one JSON object on standard output")
        c.add_argument("--debug", action="store_true", help="show tracebacks")
        c.set_defaults(func=func)
        return c

    for entry in COMMANDS:
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function)(command)
    return p


def main(argv=None):
    """Run ``graphlab ARGV``; returns the exit status."""
    try:
        parser = _parser()  # imports every command's module
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    ctx = Context(args)
    ctx.file = getattr(args, "file", None)
    try:
        return args.func(args, ctx)
    except Usage as e:
        parser.error(str(e))
    except GraphlabError as e:
        if args.debug:
            raise
        if e.file is None and ctx.file:
            e.file = ctx.file
        print(f"error: {e}", file=sys.stderr)
        return 1
    except MemoryError as e:
        if args.debug:
            raise
        size = getattr(e, "_total_size", None)
        need = f": an array needs {size:,} bytes" if size is not None else ""
        where = f"{ctx.file}: " if ctx.file else ""
        print(f"error: {where}not enough memory{need}; use a smaller batch or "
              "smaller tensors", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main_test(argv=None):
    """``graphlab test`` on its own (``python -m graphlab.testing FILE...``)."""
    return main(["test", *(sys.argv[1:] if argv is None else argv)])
