"""What ``graphlab train --backend torch`` needs beside :mod:`graphlab.cli.train`:
the quiet context of ranks other than 0, and the arguments a launched rank gets.

This module imports nothing of the command line's, so that it stays out of the
cli's import cycle. (``graphlab export -o OUT.py`` is in
:mod:`graphlab.cli.interop`.)
"""

import argparse

__all__ = ["Quiet", "child_argv"]


class Quiet:
    """The context of ranks other than 0: they neither warn nor print."""

    def __init__(self, ctx):
        self.args, self.file, self.warnings = ctx.args, ctx.file, []

    def warn(self, message, node=None):
        pass

    def emit(self, obj, text):
        pass


def child_argv(args):
    """The ``graphlab train`` arguments that ``args`` came from, without --nproc."""
    parser = args.train_parser
    argv = ["train"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in (
                "nproc", "train_parser", "func"):
            continue
        value = getattr(args, action.dest, None)
        if not action.option_strings:
            argv.append(value)
        elif isinstance(action, argparse._StoreTrueAction):
            if value:
                argv.append(action.option_strings[0])
        elif value is not None and value != action.default:
            argv += [action.option_strings[0], str(value)]
    return argv
