"""Renderings of an :class:`~graphlab.symbolic.Explanation`: text, LaTeX, JSON.

Every LaTeX string produced here renders with ziamath (headless, no TeX
installation); the tests check that for every sample.
"""

import numpy as np

from ..ops.base import get_op
from ..tojson import jsonable
from . import forms

__all__ = ["to_text", "to_latex", "to_json", "norms_text", "plain", "grad_latex",
           "latex_document"]


plain = jsonable  # the name this module has always used


# ---- text ----------------------------------------------------------------------------

def _point_lines(expl):
    lines = []
    scalars = [f"{n} = {forms.fmt_value(v)}" for n, v in expl.at.items()
               if np.ndim(v) == 0]
    scalars += [f"{n} = {forms.fmt_value(v)}" for n, v in expl.params.items()
                if np.ndim(v) == 0]
    if scalars:
        lines.append("at " + ", ".join(scalars))
    for n, v in list(expl.at.items()) + list(expl.params.items()):
        if np.ndim(v) and np.size(v) <= 12:
            lines.append(f"   {n} = {forms.fmt_value(v)}")
    big_in = [n for n, v in expl.at.items() if np.size(v) > 12]
    if big_in:
        lines.append("inputs " + ", ".join(
            f"{n} ({'×'.join(map(str, np.shape(expl.at[n])))})" for n in big_in))
    big_p = [n for n, v in expl.params.items() if np.size(v) > 12]
    if big_p:
        total = sum(int(np.size(expl.params[n])) for n in big_p)
        lines.append(f"parameters: {len(big_p)} tensors of more than 12 numbers "
                     f"({total:,} numbers)")
    return lines


def to_text(expl, *, grads=True):
    """The walk as text: forward steps, backward steps, then the gradients."""
    lines = [expl.graph.name or "graph"]
    lines += _point_lines(expl)
    lines += [f"note: {n}" for n in expl.notes]
    width = len(str(len(expl)))
    arrows = max((len(_arrow(s)) for s in expl.backward), default=0)
    lines += ["", "forward"]
    for s in expl.forward:
        lines.append(f"  {s.index + 1:>{width}}  {s.text}")
        if s.expr is None and s.doc:
            lines.append(f"  {'':>{width}}     ({s.op}: {s.doc})")
    if expl.backward:
        lines += ["", f"backward from {expl.loss} (∂{expl.loss}/∂{expl.loss} = 1)"]
        for s in expl.backward:
            lines += _backward_text(s, width, arrows)
    elif expl.loss is not None:
        lines += ["", (f"backward: nothing to do (no Input or Parameter that "
                       f"{expl.loss} depends on needs a gradient)")]
    if grads and expl.grads:
        lines += ["", "gradients"]
        for n, g in expl.grads.items():
            lines.append(f"  ∂{expl.loss}/∂{n} = {forms.fmt_value(g)}")
    return "\n".join(lines)


def _arrow(s):
    return f"Σ at {s.ref}" if s.kind == "sum" else f"{s.node} → {s.wrt}"


def _backward_text(s, width, arrows):
    num = f"  {s.index + 1:>{width}}  "
    pad = " " * len(num)
    flag = ("" if s.agrees is not False else
            f"   ✗ disagrees with the executor (relative error {s.error:.2g})")
    arrow = _arrow(s).ljust(arrows)
    if s.kind == "sum" or s.local is not None:
        return [f"{num}{arrow}  {s.text}{flag}"]
    formula = (s.local_text or f"(no formula declared by {s.op})").split("\n")
    out = [f"{num}{arrow}  {s.op}, port {s.port}:  {formula[0]}"]
    out += [f"{pad}    {line}" for line in formula[1:]]
    out.append(f"{pad}    upstream ∂{s.loss}/∂{s.node} = {forms.fmt_value(s.upstream)}")
    out.append(f"{pad}    gives    ∂{s.loss}/∂{s.wrt} = {forms.fmt_value(s.grad)}"
               f"{flag}")
    return out


def norms_text(expl, rows=None):
    """The per-layer gradient norm table, input first, with a verdict."""
    rows = expl.layer_norms() if rows is None else rows
    if not rows:
        return "gradient norms per layer: no node takes a Parameter input"
    head = ("layer", "op", "weights", "‖∂L/∂W‖", "‖∂L/∂out‖", "‖∂L/∂in‖")
    table = [(r.node, r.op, r.weight, _num(r.weight_grad), _num(r.out_grad),
              _num(r.in_grad)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    def fmt_row(row):
        return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))
    lines = [f"gradient norms per layer, input first (∂L = ∂{expl.loss})",
             "  " + fmt_row(head)]
    lines += ["  " + fmt_row(r) for r in table]
    lines.append("  " + _verdict(rows))
    return "\n".join(lines)


def _num(v):
    return "—" if v is None else f"{v:.3g}"


def _verdict(rows):
    w = [r.weight_grad for r in rows]
    if len(w) < 2 or not w[-1]:
        return ""
    ratio = w[0] / w[-1]
    falls = all(a < b for a, b in zip(w, w[1:], strict=False))
    first, last = rows[0].node, rows[-1].node
    if falls and ratio < 0.1:
        return (f"‖∂L/∂W‖ falls at every layer towards the input, {1 / ratio:.3g}× "
                f"from {last} to {first}: the gradient vanishes")
    if ratio > 10:
        return (f"‖∂L/∂W‖ grows {ratio:.3g}× from {last} to {first}: the gradient "
                "explodes towards the input")
    return (f"‖∂L/∂W‖ at {first} is {ratio:.3g}× that at {last}: no vanishing "
            "towards the input")


# ---- LaTeX ---------------------------------------------------------------------------

def grad_latex(expl, node):
    """``\\frac{\\partial f}{\\partial x} = {-4}`` (a big tensor: named, with its
    shape and norm)."""
    d = (r"\frac{\partial " + forms.latex_name(expl.loss) + r"}{\partial "
         + forms.latex_name(node) + "}")
    g = expl.grads[node]
    if forms.summarised(g):
        return forms.latex_value(g, name=d)
    return d + " = " + forms.latex_value(g)


def to_latex(expl, *, document=False):
    """One formula per line (forward, backward, gradients); ``document=True``
    wraps them in a standalone LaTeX document (amsmath, amssymb)."""
    sections = [("forward", [s.latex for s in expl.forward]),
                ("backward", [s.latex for s in expl.backward]),
                ("gradients", [grad_latex(expl, n) for n in expl.grads])]
    if document:
        return latex_document(expl.graph.name, sections)
    lines = []
    for title, formulas in sections:
        if formulas:
            lines.append(f"% {title}")
            lines += formulas
    return "\n".join(lines)


def latex_document(title, sections):
    """A standalone document: ``sections`` is a list of (title, [formula, ...])."""
    out = [r"\documentclass{article}", r"\usepackage{amsmath,amssymb}",
           r"\begin{document}", r"\section*{" + _tex_escape(title or "graph") + "}"]
    for name, formulas in sections:
        if not formulas:
            continue
        out.append(r"\subsection*{" + name.capitalize() + "}")
        out += [r"\[ " + f + r" \]" for f in formulas]
    out.append(r"\end{document}")
    return "\n".join(out)


def _tex_escape(text):
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"),
                 ("%", r"\%"), ("#", r"\#"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text


# ---- JSON ----------------------------------------------------------------------------

def to_json(expl):
    """The SPEC object: ``{"forward": [{"node", "expr", "value"}], "backward":
    [{"node", "wrt", "local", "upstream", "grad"}], "grads": {...}}``, with
    more fields (op, latex, step kind, agreement) and plain values."""
    forward = [{"step": s.index, "node": s.node, "op": s.op, "inputs": s.inputs,
                "expr": s.expr_str, "latex": s.latex, "value": plain(s.value)}
               for s in expl.forward]
    backward = []
    for s in expl.backward:
        if s.kind == "sum":
            backward.append({"step": s.index, "kind": "sum", "node": s.ref,
                             "wrt": s.ref, "local": None, "from": s.consumers,
                             "upstream": [plain(g) for _, g in s.terms],
                             "grad": plain(s.grad), "latex": s.latex,
                             "agrees": s.agrees})
            continue
        upstream = s.upstream
        if isinstance(upstream, tuple):
            ports = get_op(s.op).outputs
            upstream = {p: plain(u) for p, u in zip(ports, upstream)}
        backward.append({
            "step": s.index, "kind": "edge", "node": s.node, "op": s.op,
            "port": s.port, "wrt": s.wrt, "local": s.local_str,
            "local_value": plain(s.local_value), "symbolic": s.symbolic,
            "upstream": plain(upstream), "grad": plain(s.grad), "latex": s.latex,
            "agrees": s.agrees, "error": s.error})
    return {"graph": expl.graph.name, "loss": expl.loss,
            "at": plain(expl.at), "notes": list(expl.notes),
            "forward": forward, "backward": backward, "grads": plain(expl.grads)}
