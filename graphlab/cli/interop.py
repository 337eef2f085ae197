"""``graphlab import`` and ``graphlab export`` (SPEC sections 3 and 5).

``import MODEL.onnx -o OUT.graph.json`` writes the graph (parameters in the
``.npz`` sidecar, positions from the automatic layout, one ``ui`` group per
module block). ``export FILE -o OUT`` picks the format by the suffix of OUT:
``.onnx`` (:mod:`graphlab.onnx`) or ``.py`` (PyTorch source, ``graphlab.torch``).
"""

import os
import sys

from .common import checked, load_checked

__all__ = ["add_import_command", "add_export_command", "EXPORT_FORMATS"]

EXPORT_FORMATS = (".onnx", ".py")


def cmd_import(args, ctx):
    from .. import io
    from ..onnx.importer import import_model
    out = args.path
    if not out.endswith(".json"):
        print(f"graphlab import: error: -o must name a graph file (.graph.json), "
              f"got {out!r}", file=sys.stderr)
        return 2
    _refuse_existing(out, out[:-len(".json")].removesuffix(".graph") + ".params.npz")
    g = checked(import_model(args.file), ctx)
    io.save(g, out)
    n = g.parameter_count()
    sidecar = (os.path.join(os.path.dirname(out), g.params_file) if g.params_file
               else None)
    text = f"wrote {out}: {len(g)} nodes, {n:,} parameters" + (
        f" (values in {sidecar})" if sidecar else "")
    ctx.emit({"graph": out, "params": sidecar, "nodes": len(g), "parameters": n},
             text)
    return 0


def _refuse_existing(*paths):
    """Nothing the user made is overwritten: an import writes new files only."""
    from ..errors import GraphError
    for path in paths:
        if os.path.lexists(path):
            raise GraphError("already exists: import into a new file or delete it "
                             "first", file=path)


def cmd_export(args, ctx):
    out = args.path
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in EXPORT_FORMATS:
        print(f"graphlab export: error: cannot tell the format of {out!r}: end it "
              f"in {' or '.join(EXPORT_FORMATS)} (ONNX model, PyTorch source)",
              file=sys.stderr)
        return 2
    if suffix == ".py":  # PyTorch source and its weights: graphlab.torch
        return _export_torch_source(args, ctx)
    from ..onnx._common import DEFAULT_OPSET
    from ..onnx.exporter import export_model
    g = load_checked(args.file, ctx)
    model = export_model(g, out, outputs=args.outputs or None, opset=args.opset)
    outputs = [o.name for o in model.graph.output]
    opset = args.opset or DEFAULT_OPSET
    ctx.emit({"output": out, "format": "onnx", "opset": opset, "outputs": outputs},
             f"wrote {out}: ONNX opset {opset}, {len(model.graph.node)} nodes, "
             f"outputs {', '.join(outputs)}")
    return 0


def _export_torch_source(args, ctx):
    """``graphlab export FILE -o OUT.py``: one nn.Module and its weights OUT.npz."""
    from ..errors import GraphlabError
    from ..torch import require_torch
    _refuse_overwrite(args.path)
    g = load_checked(args.file, ctx)
    require_torch()
    from ..torch.export import write_export
    try:
        weights = write_export(g, args.path, outputs=args.outputs or None,
                               origin=args.file)
    except OSError as e:
        raise GraphlabError(f"cannot write {args.path}: {e.strerror or e}") from None
    ctx.emit({"output": args.path, "format": "py", "weights": weights},
             f"wrote {args.path} (PyTorch source, one nn.Module) and its weights "
             f"{weights}; run it: python {args.path}")
    return 0


def _is_export(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return ": PyTorch source exported by graphlab" in f.read(4096)
    except OSError:
        return False


def _refuse_overwrite(path):
    """Only an earlier export (OUT.py and its OUT.npz) may be replaced: a user's
    own script or data set of the same name is never overwritten."""
    from ..errors import GraphlabError
    weights = os.path.splitext(path)[0] + ".npz"
    if os.path.lexists(path) and not _is_export(path):
        raise GraphlabError("already exists and is not a graphlab export: pick "
                            "another -o or delete it first", file=path)
    if os.path.lexists(weights) and not _is_export(path):
        raise GraphlabError("already exists and is not the weights of an earlier "
                            "export: pick another -o or delete it first", file=weights)


def add_import_command(command):
    """Register ``graphlab import`` with the cli's ``command`` helper."""
    c = command("import", cmd_import, "read an ONNX model into a graph file")
    c.add_argument("-o", dest="path", required=True, metavar="OUT.graph.json",
                   help="the graph file to write (parameters in OUT.params.npz)")


def add_export_command(command):
    """Register ``graphlab export`` with the cli's ``command`` helper."""
    c = command("export", cmd_export,
                "write a graph as an ONNX model (.onnx) or PyTorch source (.py)")
    c.add_argument("-o", dest="path", required=True, metavar="OUT",
                   help="OUT.onnx or OUT.py: the suffix picks the format")
    c.add_argument("--opset", type=int, default=None, metavar="K",
                   help="ONNX opset, 17 to 25 (default 18)")
    c.add_argument("--output", dest="outputs", action="append", metavar="ID",
                   help="a node (or node:port) to export as an output, repeatable "
                        "(default: the graph's outputs)")
