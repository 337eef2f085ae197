"""``graphlab check``, ``run``, ``grad``, ``codegen`` and ``ops``: the commands
that read a graph and print what it is or computes."""

import os

from ..errors import GraphlabError
from ..lower import default_outputs
from ..ops.base import FAMILIES, ops_by_family
from ..program import Program
from ..shapes import fmt
from .common import assignments, format_value, jsonable, load_checked

__all__ = ["cmd_check", "cmd_run", "cmd_grad", "cmd_codegen", "cmd_ops",
           "add_basic_commands"]


def cmd_check(args, ctx):
    g = load_checked(args.file, ctx)
    if not g.nodes:
        ctx.warn("the graph is empty: add nodes to it")
    elif not g.outputs:
        sinks = ", ".join(f"'{n}'" for n in default_outputs(g))
        ctx.warn(f"the graph lists no \"outputs\": run, grad and explain use the nodes "
                 f"nothing consumes ({sinks}); list the outputs you mean")
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
    g = load_checked(args.file, ctx)
    feeds = assignments(args.feed, "--feed")
    prog = Program(g, dtype=args.dtype, training=False)
    if not prog.schedule.outputs:
        raise GraphlabError("nothing to run: the graph is empty")
    out = prog.forward(feeds)
    text = "\n".join(f"{k} = {format_value(v)}" for k, v in out.items())
    ctx.emit({"outputs": out}, text)
    return 0


def cmd_grad(args, ctx):
    g = load_checked(args.file, ctx)
    feeds = assignments(args.at, "--at")
    prog = Program(g, dtype=args.dtype, training=False)
    if not prog.schedule.outputs:
        raise GraphlabError("nothing to differentiate: the graph is empty")
    out = prog.forward(feeds)
    grads = prog.backward()
    first = next(iter(out), "output")
    lines = [f"{k} = {format_value(v)}" for k, v in out.items()]
    lines += [f"∂{first}/∂{k} = {format_value(v)}" for k, v in grads.items()]
    ctx.emit({"outputs": out, "grads": grads}, "\n".join(lines))
    return 0


def cmd_codegen(args, ctx):
    g = load_checked(args.file, ctx)
    prog = Program(g, dtype=args.dtype, fuse=args.fuse)
    print(prog.source, end="")
    return 0


def cmd_ops(args, ctx):
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


def add_basic_commands(command):
    """Add ``check``, ``run``, ``grad``, ``codegen`` and ``ops`` through
    ``command(name, func, help, file=True)`` (see :mod:`graphlab.cli`)."""
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
