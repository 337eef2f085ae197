"""Whole-graph checking: every node's shapes, errors and warnings in one pass.

:func:`analyse` runs each op's shape rule in topological order and collects
what goes wrong instead of raising, so that an editor can show every mistake
on its node; :meth:`graphlab.Graph.check` raises the first one. It also checks
what refers to nodes from outside them: ``outputs`` and the ``train`` section.
"""

import json

from .errors import GraphError, GraphlabError, PortError, ShapeError
from .ops.base import get_op
from .shapes import collect_warnings, fmt

__all__ = ["Report", "analyse"]


class Report:
    """What :func:`analyse` found.

    Attributes
    ----------
    shapes : dict
        ``{node: (shape of each output)}``; ``None`` where it could not be inferred.
    errors : list of GraphlabError
        In topological order, each naming its node.
    node_errors : dict
        ``{node: GraphlabError}``, the first error of each node.
    warnings : list of (node, str)
    parameters : dict
        ``{node: count}`` for Parameter nodes.
    macs : dict
        ``{node: multiply-adds per example}``.
    """

    def __init__(self):
        self.shapes, self.errors, self.node_errors = {}, [], {}
        self.warnings, self.parameters, self.macs = [], {}, {}
        self.kinds = {}  # {node: ("int" or "float" per output port)}

    def fail(self, err, node):
        if err.node is None:
            err.node = node
        self.errors.append(err)
        if node is not None:
            self.node_errors.setdefault(node, err)

    def shape(self, node, port=None):
        """Shape of one output (the first by default), or ``None``."""
        shapes = self.shapes.get(node)
        if shapes is None:
            return None
        return shapes[0] if port is None else shapes[port]


def analyse(graph):
    """Infer every node's shapes; collect errors and warnings without raising.

    Nodes downstream of a failed node get no shape and no error of their own,
    so that each mistake is reported once, where it is.
    """
    report = Report()
    try:
        order = graph.topological_order()
    except Exception:  # a cycle cannot be built through Graph's methods
        order = graph.nodes
    for node_id in order:
        node = graph.node(node_id)
        if node.placeholder:
            try:
                get_op(node.op, node=node_id)
            except GraphlabError as err:
                report.fail(err, node_id)
            continue
        op = node.op_def
        try:
            attrs = node.resolved
        except GraphlabError as err:
            report.fail(err, node_id)
            continue
        edges = graph.in_edges(node_id)
        missing = [p for p in op.required_inputs if p not in edges]
        if missing:
            report.fail(PortError(
                f"{op.name} input{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(p) for p in missing)} "
                f"{'are' if len(missing) > 1 else 'is'} not connected: wire "
                f"{'them' if len(missing) > 1 else 'it'} to a node's output"),
                node_id)
            continue
        in_shapes, upstream_failed = [], False
        for port in op.input_ports:
            e = edges.get(port)
            if e is None:
                in_shapes.append(None)
                continue
            src_shapes = report.shapes.get(e.src)
            if src_shapes is None:
                upstream_failed = True
                break
            src_index = graph.node(e.src).output_ports.index(e.src_port)
            in_shapes.append(src_shapes[src_index])
        if upstream_failed:
            continue
        kinds = _in_kinds(graph, op, edges, report)
        bad = [p for p in op.int_inputs if kinds.get(p) == "float"]
        if bad:
            src = edges[bad[0]].src
            report.fail(PortError(
                f"{op.name}: input '{bad[0]}' takes integers (a MaxPool2D's indices "
                f"or an int64 Input), but '{src}' gives floats: wire the integer "
                "output there"), node_id)
            continue
        report.kinds[node_id] = tuple(
            "int" if p in op.int_outputs or (kinds and all(
                k == "int" for k in kinds.values())) else "float"
            for p in op.outputs)
        try:
            with collect_warnings() as messages:
                out = op.shape(*in_shapes, **attrs)
        except GraphlabError as err:
            report.fail(err, node_id)
            continue
        shapes = tuple(tuple(s) for s in out) if len(op.outputs) > 1 else (tuple(out),)
        report.shapes[node_id] = shapes
        report.warnings.extend((node_id, m) for m in messages)
        if op.name == "Parameter":
            report.parameters[node_id] = op.parameters(attrs)
        try:
            report.macs[node_id] = int(op.macs(in_shapes, shapes, **attrs))
        except Exception:  # a count for display only; never blocks a check
            report.macs[node_id] = 0
    _check_outputs(graph, report)
    _check_train(graph, report)
    return report


def _in_kinds(graph, op, edges, report):
    """``{port: "int" or "float"}`` of what each wired input carries: an Input
    its dtype, an op's output "int" where the op declares it (``int_outputs``)
    or where all its own inputs are integers."""
    kinds = {}
    for port in op.input_ports:
        e = edges.get(port)
        if e is None:
            continue
        src = graph.node(e.src)
        if src.op == "Input":
            kinds[port] = "int" if src.resolved["dtype"].startswith("int") else "float"
        else:
            src_kinds = report.kinds.get(e.src)
            kinds[port] = src_kinds[src.output_ports.index(e.src_port)] \
                if src_kinds else "float"
    return kinds


def _check_outputs(graph, report):
    for ref in graph.outputs:
        node = ref.partition(":")[0]
        if node not in graph:
            report.fail(GraphError(f"output '{ref}' names no node: fix \"outputs\""),
                        None)


def _check_train(graph, report):
    train = graph.train
    if not train:
        return
    loss = train.get("loss")
    if loss is not None:
        if loss not in graph:
            report.fail(GraphError(f"train.loss names node '{loss}', which does not "
                                   "exist"), None)
        elif report.shape(loss) is not None and any(
                isinstance(d, str) or d != 1 for d in report.shape(loss)):
            report.fail(ShapeError(f"train.loss must be a scalar, but its shape is "
                                   f"{fmt(report.shape(loss))}: end with a loss op or "
                                   "Mean"), loss)
    data = train.get("data")
    if data is not None and not isinstance(data, dict):
        report.fail(GraphError(f"train.data must be an object such as {{\"dataset\": "
                               f"\"digits\"}}, got {json.dumps(data)}"), None)
        return
    feeds = (data or {}).get("feeds") or {}
    if not isinstance(feeds, dict):
        report.fail(GraphError(f"train.data.feeds must be an object {{Input id: array "
                               f"name}}, got {json.dumps(feeds)}"), None)
        return
    for node in feeds:
        if node not in graph:
            report.fail(GraphError(f"train.data.feeds names node '{node}', which does "
                                   "not exist"), None)
        elif graph.node(node).op != "Input":
            report.fail(GraphError(f"train.data.feeds: '{node}' is a "
                                   f"{graph.node(node).op}, not an Input"), node)
