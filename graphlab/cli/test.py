"""``graphlab test FILE...``: every item of every graph file
(:mod:`graphlab.testing`), one line each, then ``N passed, N failed``."""

import time

from ..testing import run_files

__all__ = ["cmd_test", "add_test_command"]


def _closing_line(passed, failed, skipped):
    return f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped
                                                  else "")


def cmd_test(args, ctx):
    """``graphlab test FILE...``: one line per item, then ``N passed, N failed``.

    Exit status 1 if any item failed. With ``--json``: ``{"passed", "failed",
    "skipped", "items": [{"file", "item", "ok", "outcome", "message"}],
    "seconds", "warnings"}``.
    """
    t0 = time.perf_counter()
    warnings = []

    def report(result):
        for node, message in result.warnings:
            ctx.file = result.file
            ctx.warn(message, node)
            ctx.file = None
            where = f"{result.file}: node '{node}'" if node else result.file
            warnings.append(f"{where}: {message}")
        if not args.json:
            print(result.line(), flush=True)

    results = run_files(args.files, debug=args.debug, on_result=report)
    counts = {k: sum(r.outcome == k for r in results)
              for k in ("passed", "failed", "skipped")}
    obj = dict(counts, items=[{"file": r.file, "item": r.item, "ok": r.ok,
                               "outcome": r.outcome, "message": r.message}
                              for r in results],
               seconds=round(time.perf_counter() - t0, 3), warnings=warnings)
    ctx.emit(obj, _closing_line(counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if counts["failed"] else 0


def add_test_command(command):
    """Add ``test`` through ``command(name, func, help, file=True)`` (see
    :mod:`graphlab.cli`)."""
    c = command("test", cmd_test, "check, run, gradient-check and test graph files",
                file=False)
    c.add_argument("files", nargs="+", metavar="FILE",
                   help="graph files, or directories to search for *.graph.json")
    return c
