"""``graphlab explain FILE``: the chain rule step by step, derived with SymPy
(:mod:`graphlab.symbolic`)."""

from ..errors import GraphError
from ..symbolic import render
from ..symbolic.collapse import CollapseRefused
from ..symbolic.steps import explain
from .common import assignments, load_checked, positive_int

__all__ = ["cmd_explain", "add_explain_command"]


def add_explain_command(command):
    """Add ``explain`` through ``command(name, func, help, file=True)`` (see
    :mod:`graphlab.cli`)."""
    c = command("explain", cmd_explain,
                "the chain rule step by step, derived with SymPy")
    c.add_argument("--at", action="append", metavar="ID=VALUE",
                   help="value of an Input (or Parameter): a number, a JSON list or "
                        "a .npy path")
    c.add_argument("--latex", action="store_true",
                   help="print LaTeX, one formula per line")
    c.add_argument("--norms", action="store_true",
                   help="add the gradient norm of every layer")
    c.add_argument("--jacobian", action="append", metavar="NODE[=WRT]",
                   help="add the full Jacobian of a small node with respect to one "
                        "input (a port or the id of the node feeding it)")
    c.add_argument("--collapse", action="store_true",
                   help="collapse a small scalar graph into one expression and "
                        "differentiate it end to end (big graphs: say why not)")
    c.add_argument("--unroll", metavar="NODE",
                   help="unroll a recurrent node over time and walk backpropagation "
                        "through time")
    c.add_argument("--batch", type=positive_int, default=2, metavar="B",
                   help="batch size for Inputs without a value (default 2)")
    c.add_argument("--seed", type=int, default=0,
                   help="seed of that random batch (default 0)")
    c.add_argument("--training", action="store_true",
                   help="run in training mode (Dropout masks, BatchNorm batch "
                        "statistics); default: evaluation mode, as grad")
    return c


def cmd_explain(args, ctx):
    """Run ``graphlab explain``; returns the exit status."""
    g = load_checked(args.file, ctx)
    if not g.nodes:
        raise GraphError("nothing to explain: the graph is empty")
    at = assignments(args.at, "--at")
    expl = explain(g, at, batch=args.batch, seed=args.seed, training=args.training)
    for s in expl.mismatches:
        ctx.warn(f"{s.op}: the formula for "
                 f"{'port ' + s.port if s.kind == 'edge' else 'the sum'} gives a "
                 f"different gradient from the executor's (relative error "
                 f"{s.error:.2g})", s.node)
    obj = expl.to_json()
    text = [expl.to_text()]
    latex = [expl.to_latex()]

    if args.norms:
        rows = expl.layer_norms()
        obj["layer_norms"] = [{"node": r.node, "op": r.op, "params": r.params,
                               "out_grad": r.out_grad, "in_grad": r.in_grad}
                              for r in rows]
        text += ["", render.norms_text(expl, rows)]
        from ..symbolic.recurrence import recurrent_norms, recurrent_norms_text
        rec = recurrent_norms(expl)
        if rec:
            obj["recurrent_norms"] = [vars(r) for r in rec]
            text += ["", recurrent_norms_text(rec)]
    for spec in args.jacobian or []:
        node, _, wrt = spec.partition("=")
        jac = expl.jacobian(node.strip(), wrt.strip() or None)
        obj.setdefault("jacobians", []).append(
            {"node": jac.node, "wrt": jac.wrt, "port": jac.port,
             "matrix": jac.matrix.tolist(),
             "expr": None if jac.expr is None else str(jac.expr.tolist())})
        text += ["", jac.text]
        latex += ["% jacobian", jac.latex]
    if args.collapse:
        try:
            c = expl.collapse()
        except CollapseRefused as e:
            obj["collapse"] = {"refused": e.message, "nodes": e.nodes,
                               "tree_size": e.tree_size}
            text += ["", f"collapse: {e.message}"]
            latex += ["% collapse refused: " + e.message.replace("\n", " ")]
        else:
            obj["collapse"] = {
                "expr": str(c.expr), "tree_size": c.tree_size, "nodes": c.nodes,
                "value": c.value, "agrees": c.agrees,
                "derivatives": {k: str(d) for k, d in c.derivatives.items()},
                "values": c.values}
            text += ["", "collapsed into one expression", c.text]
            latex += ["% collapsed"] + c.latex
    if args.unroll:
        u = expl.unroll(args.unroll, batch=args.batch, seed=args.seed)
        obj["unroll"] = u.to_json()
        text += ["", u.to_text(walk=True)]
        latex += ["% unrolled: " + u.graph.name, u.explanation.to_latex()]
    ctx.emit(obj, "\n".join(latex if args.latex else text))
    return 0
