"""The ``graphlab`` command (SPEC section 3).

Errors go to standard error as ``error: FILE: node 'ID': what is wrong`` with
exit status 1 (a traceback only with ``--debug``); usage errors exit 2;
warnings go to standard error as ``warning: FILE: node 'ID': ...``. With
``--json`` a command prints one JSON object on standard output and nothing else.
"""

import argparse
import json
import os
import sys

import numpy as np

from .errors import GraphlabError

__all__ = ["main", "parse_value"]


# ---- shared helpers -----------------------------------------------------------------

def parse_value(text):
    """A ``--feed``/``--at`` VALUE: a number, a JSON list, or a ``.npy`` path."""
    text = text.strip()
    if text.endswith(".npy"):
        try:
            return np.load(text, allow_pickle=False)
        except OSError as e:
            raise GraphlabError(f"cannot read {text}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise GraphlabError(f"cannot read the value {text!r}: give a number, a JSON "
                            "list such as [1, 2], or a path to a .npy file") from None


def _assignments(pairs, flag):
    out = {}
    for pair in pairs or []:
        node, sep, value = pair.partition("=")
        if not sep or not node:
            raise _Usage(f"{flag} takes ID=VALUE, got {pair!r}")
        out[node.strip()] = parse_value(value)
    return out


class _Usage(Exception):
    pass


def jsonable(v):
    """Arrays and NumPy scalars as plain numbers and nested lists."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


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


def _load_checked(path, ctx):
    from . import io
    g = io.load(path)
    for node, message in g.check():
        ctx.warn(message, node)
    return g


class _Context:
    def __init__(self, args):
        self.args = args
        self.file = None
        self.warnings = []

    def warn(self, message, node=None):
        where = ": ".join(p for p in (self.file, f"node '{node}'" if node else None) if p)
        self.warnings.append({"file": self.file, "node": node, "message": message})
        print(f"warning: {where}: {message}" if where else f"warning: {message}",
              file=sys.stderr)

    def emit(self, obj, text):
        if self.args.json:
            obj = dict(obj)
            obj.setdefault("warnings", [w["message"] if not w["node"] else
                                        f"node '{w['node']}': {w['message']}"
                                        for w in self.warnings])
            print(json.dumps(jsonable(obj)))
        else:
            print(text)


# ---- commands ---------------------------------------------------------------------------

def cmd_check(args, ctx):
    from .shapes import fmt
    g = _load_checked(args.file, ctx)
    report = g.analyse()
    layer_params = _layer_params(g, report)
    nodes = {}
    rows = []
    for node_id in g.nodes:
        node = g.node(node_id)
        shape = report.shape(node_id)
        n = report.parameters.get(node_id, 0)
        nodes[node_id] = {"op": node.op, "shape": list(shape), "parameters": n}
        if len(node.output_ports) > 1:
            nodes[node_id]["shapes"] = {p: list(s) for p, s in
                                        zip(node.output_ports, report.shapes[node_id])}
        shown = f"{n:,}" if n else (f"({layer_params[node_id]:,})"
                                    if layer_params.get(node_id) else "")
        rows.append((node_id, node.op, fmt(shape), shown))
    total = sum(report.parameters.values())
    trainable = g.parameter_count(trainable_only=True)
    obj = {"ok": True, "nodes": nodes, "parameters": total}
    widths = [max(len(r[i]) for r in rows + [("node", "op", "output shape", "params")])
              for i in range(4)]
    head = ("node", "op", "output shape", "params")
    line = "  ".join(h.ljust(w) if i < 3 else h.rjust(w)
                     for i, (h, w) in enumerate(zip(head, widths)))
    out = [f"{g.name or os.path.basename(args.file)}  ({args.file})", line,
           "─" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))
    out.append("─" * len(line))
    frozen = total - trainable
    out.append(f"Total parameters: {total:,}" + (f" (trainable {trainable:,}, frozen "
                                                  f"{frozen:,})" if frozen else ""))
    if any(layer_params.values()):
        out.append("(n): the parameters of that layer's weights, counted once in the "
                   "total")
    macs = sum(report.macs.values())
    if macs:
        out.append(f"Multiply-adds per example: {macs:,}")
    ctx.emit(obj, "\n".join(out))
    return 0


def _layer_params(g, report):
    """Parameters feeding each op directly, for the summary table."""
    out = {}
    for node_id in g.nodes:
        total = sum(report.parameters.get(e.src, 0)
                    for e in g.in_edges(node_id).values())
        if total and g.node(node_id).op != "Parameter":
            out[node_id] = total
    return out


def cmd_run(args, ctx):
    from .program import Program
    g = _load_checked(args.file, ctx)
    feeds = _assignments(args.feed, "--feed")
    prog = Program(g, dtype=args.dtype, training=False)
    out = prog.forward(feeds)
    text = "\n".join(f"{k} = {format_value(v)}" for k, v in out.items())
    ctx.emit({"outputs": out}, text)
    return 0


def cmd_grad(args, ctx):
    from .program import Program
    g = _load_checked(args.file, ctx)
    feeds = _assignments(args.at, "--at")
    prog = Program(g, dtype=args.dtype, training=False)
    out = prog.forward(feeds)
    grads = prog.backward()
    first = next(iter(out), "output")
    lines = [f"{k} = {format_value(v)}" for k, v in out.items()]
    lines += [f"∂{first}/∂{k} = {format_value(v)}" for k, v in grads.items()]
    ctx.emit({"outputs": out, "grads": grads}, "\n".join(lines))
    return 0


def cmd_codegen(args, ctx):
    from .program import Program
    g = _load_checked(args.file, ctx)
    prog = Program(g, dtype=args.dtype, fuse=args.fuse)
    print(prog.source, end="")
    return 0


def cmd_ops(args, ctx):
    from .ops.base import FAMILIES, ops_by_family
    fams = ops_by_family()
    if args.json:
        ctx.emit({"ops": {op.name: {
            "family": op.family, "inputs": list(op.inputs), "outputs": list(op.outputs),
            "attrs": {k: (None if a.required else jsonable(a.default))
                      for k, a in op.attrs.items()}, "doc": op.doc}
            for fam in FAMILIES for op in fams.get(fam, [])}}, "")
        return 0
    for fam in FAMILIES:
        print(f"{fam}:")
        for op in fams.get(fam, []):
            ports = ", ".join(op.inputs)
            print(f"  {op.name:<16} ({ports}) → {', '.join(op.outputs):<10} {op.doc}")
    return 0


# ---- entry point --------------------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(
        prog="graphlab",
        description="Build neural networks as node graphs, watch the chain rule, train.")
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

    command("check", cmd_check, "validate a graph, infer every shape, count parameters")
    c = command("run", cmd_run, "run the forward pass")
    c.add_argument("--feed", action="append", metavar="ID=VALUE",
                   help="value of an Input: a number, a JSON list or a .npy path")
    c.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    c = command("grad", cmd_grad, "forward and backward: every gradient")
    c.add_argument("--at", action="append", metavar="ID=VALUE",
                   help="value of an Input: a number, a JSON list or a .npy path")
    c.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    c = command("codegen", cmd_codegen, "print the generated forward/backward source")
    c.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    c.add_argument("--fuse", action="store_true",
                   help="fused kernels where a chain allows (conv → activation → pool)")
    command("ops", cmd_ops, "list every op by family", file=False)
    # Commands that live beside the feature they drive.
    from .bench import add_bench_command
    from .testing import add_test_command
    from .symbolic import add_explain_command
    from .train_cli import add_train_command
    from .onnx.cli import add_export_command, add_import_command
    add_explain_command(command)
    add_train_command(command)
    add_bench_command(command)
    add_test_command(command)
    add_import_command(command)
    add_export_command(command)
    from .generate import add_generate_command
    add_generate_command(command)
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    ctx = _Context(args)
    ctx.file = getattr(args, "file", None)
    try:
        return args.func(args, ctx)
    except _Usage as e:
        parser.error(str(e))
    except GraphlabError as e:
        if args.debug:
            raise
        if e.file is None and ctx.file:
            e.file = ctx.file
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
