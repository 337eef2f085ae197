"""The graph: nodes (op + attrs + ui), edges from output ports to input ports.

:class:`Graph` wraps a ``networkx.MultiDiGraph``. Every change goes through a
method that first checks it (raising a specific :class:`GraphError` and
leaving the graph as it was), then makes it, then tells the listeners. The
structural invariants always hold: ids are unique and well formed, edges join
existing ports, an input port has at most one edge, there is no cycle.
Semantic validity (required inputs, shapes) is what :meth:`Graph.check`
reports, so that an editor can hold a half-built graph.

Nodes whose op is unknown to this version (``placeholder`` nodes) are kept with
their attributes, so that nothing is lost on save.
"""

import copy
import re
from collections import namedtuple

import networkx as nx
import numpy as np

from .errors import (AttrError, CycleError, DuplicateEdgeError, GraphError,
                     PortError)
from .ops.base import get_op
from .validate import analyse

__all__ = ["Graph", "Edge", "Node", "ID_PATTERN", "parse_ref"]

ID_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Edge = namedtuple("Edge", "src src_port dst dst_port")
Edge.__doc__ = "An edge from output port ``src:src_port`` to input ``dst:dst_port``."
Edge.__str__ = lambda e: f"{e.src}:{e.src_port} → {e.dst}:{e.dst_port}"


class Node:
    """A view of one node: ``id``, ``op`` (name), ``attrs``, ``ui``.

    ``attrs`` are as written in the file (defaults not filled in);
    :attr:`resolved` has them validated with defaults. ``op_def`` is the
    registered op, or ``None`` for a placeholder.
    """

    __slots__ = ("_graph", "id")

    def __init__(self, graph, node_id):
        self._graph = graph
        self.id = node_id

    @property
    def _data(self):
        return self._graph.nx.nodes[self.id]

    @property
    def op(self):
        return self._data["op"]

    @property
    def op_def(self):
        return self._data["op_def"]

    @property
    def placeholder(self):
        return self._data["op_def"] is None

    @property
    def attrs(self):
        return dict(self._data["attrs"])

    @property
    def ui(self):
        return dict(self._data["ui"])

    @property
    def resolved(self):
        """Attributes validated and with defaults (raises ``AttrError``)."""
        if self.placeholder:
            raise GraphError(f"unknown op '{self.op}'", node=self.id)
        return self.op_def.resolve_attrs(self._data["attrs"], node=self.id)

    @property
    def input_ports(self):
        if self.placeholder:
            return tuple(self._data.get("ports_in", ()))
        return self.op_def.input_ports

    @property
    def output_ports(self):
        if self.placeholder:
            return tuple(self._data.get("ports_out", ("out",)))
        return self.op_def.outputs

    def __repr__(self):
        return f"Node({self.id!r}, {self.op!r})"


def parse_ref(ref):
    """``"node:port"`` → ``("node", "port")``; ``"node"`` → ``("node", None)``."""
    if not isinstance(ref, str):
        raise GraphError("an edge end must be a string such as \"conv1:w\", got "
                         f"{ref!r}")
    node, sep, port = ref.partition(":")
    return node, (port if sep else None)


def _rename_keys(mapping, old, new):
    if isinstance(mapping, dict) and old in mapping:
        return {new if k == old else k: v for k, v in mapping.items()}
    return mapping


def _rename_references(graph, old, new):
    """Point the train and tests sections at a renamed node."""
    train = graph.train
    if isinstance(train, dict):
        if train.get("loss") == old:
            train["loss"] = new
        data = train.get("data")
        if isinstance(data, dict):
            data["feeds"] = _rename_keys(data.get("feeds"), old, new) \
                if "feeds" in data else data.get("feeds")
    for case in graph.tests:
        for key in ("at", "expect", "grads"):
            if key in case:
                case[key] = _rename_keys(case[key], old, new)


class Graph:
    """A computational graph of ops.

    Parameters
    ----------
    name : str
        Shown in titles and generated code.

    Attributes
    ----------
    nx : networkx.MultiDiGraph
        The underlying graph; edges are keyed by target port. Read it, do not
        edit it: go through the methods so that listeners hear of changes.
    outputs : list of str
        Node ids (or ``node:port``) whose values a run returns.
    train : dict or None
        The file's ``train`` section.
    tests : list
        The file's ``tests`` section.
    params : dict of str to ndarray
        Parameter values (and BatchNorm state) from the sidecar ``.npz`` or
        from training; they take precedence over ``attrs.value``.
    params_file : str or None
        The sidecar's path relative to the graph file (the ``params`` key).
    extra : dict
        Unknown top-level keys of the file, written back unchanged.

    Examples
    --------
    >>> g = Graph("f = (x + y) * z")
    >>> for v in "xyz":
    ...     _ = g.add_node(v, "Input", {"shape": []})
    >>> _ = g.add_node("q", "Add"); _ = g.add_node("f", "Mul")
    >>> for s, t in [("x", "q:a"), ("y", "q:b"), ("q", "f:a"), ("z", "f:b")]:
    ...     _ = g.connect(s, t)
    >>> g.topological_order()
    ['x', 'y', 'z', 'q', 'f']
    """

    def __init__(self, name=""):
        self.name = name
        self.nx = nx.MultiDiGraph()
        self.outputs = []
        self.train = None
        self.tests = []
        self.params = {}
        self.params_file = None
        self.extra = {}
        self.path = None
        self._order = []  # node ids in file order
        self._edges = []  # Edge list in file order
        self._edge_text = {}  # Edge → (source, target) as the file spelled them
        self._into = {}  # node → {input port: Edge}, so lookups need no scan
        self._listeners = []

    # ---- listeners -------------------------------------------------------------------
    def subscribe(self, listener):
        """Call ``listener(event, payload)`` after every change.

        Events: ``node_added`` (id), ``node_removed`` (id), ``edge_added``
        (Edge), ``edge_removed`` (Edge), ``attrs_changed`` (id), ``ui_changed``
        (id), ``node_renamed`` ((old, new)), ``meta_changed`` (key),
        ``params_changed`` (the keys whose values were set or removed).
        """
        self._listeners.append(listener)

    def unsubscribe(self, listener):
        self._listeners.remove(listener)

    def _emit(self, event, payload):
        for listener in list(self._listeners):
            listener(event, payload)

    # ---- reading ---------------------------------------------------------------------
    def __contains__(self, node_id):
        return node_id in self.nx

    def __len__(self):
        return len(self._order)

    def node(self, node_id):
        """The :class:`Node` with this id (``GraphError`` if there is none)."""
        if node_id not in self.nx:
            raise GraphError(f"no node '{node_id}' in the graph", node=node_id)
        return Node(self, node_id)

    @property
    def nodes(self):
        """Node ids in file order."""
        return list(self._order)

    @property
    def edges(self):
        """Edges in file order."""
        return list(self._edges)

    def in_edges(self, node_id):
        """``{input port: Edge}`` of a node."""
        return dict(self._into.get(node_id, {}))

    def out_edges(self, node_id, port=None):
        """Edges leaving a node (from one output port if given)."""
        return [e for e in self._edges
                if e.src == node_id and (port is None or e.src_port == port)]

    def index_of(self, node_id):
        return self._order.index(node_id)

    def topological_order(self):
        """Node ids, sources first, ties broken by file order."""
        pos = {n: i for i, n in enumerate(self._order)}
        return list(nx.lexicographical_topological_sort(self.nx, key=pos.__getitem__))

    def new_id(self, prefix):
        """An unused id made from ``prefix`` (``conv`` → ``conv1``, ``conv2``…)."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", prefix) or "n"
        if not (base[0].isalpha() or base[0] == "_"):
            base = "n" + base
        base = base.lower() if base.isupper() else base[0].lower() + base[1:]
        i = 1
        while f"{base}{i}" in self.nx:
            i += 1
        return f"{base}{i}"

    def source_ref(self, edge):
        """An edge's source as a ref: ``node`` for the node's first output port,
        ``node:port`` for another.

        Examples
        --------
        >>> g = Graph()
        >>> _ = g.add_node("x", "Input", {"shape": [1, 1, 4, 4]})
        >>> _ = g.add_node("p", "MaxPool2D", {"kernel": 2})
        >>> _ = g.add_node("u", "MaxUnpool2D", {"kernel": 2})
        >>> edges = [g.connect("x", "p"), g.connect("p", "u:x"),
        ...          g.connect("p:indices", "u:indices")]
        >>> [g.source_ref(e) for e in edges]
        ['x', 'p', 'p:indices']
        """
        ports = self.node(edge.src).output_ports
        first = ports[0] if ports else "out"
        if edge.src_port in (None, first):
            return edge.src
        return f"{edge.src}:{edge.src_port}"

    def output_refs(self):
        """``outputs`` as ``(node, port)`` pairs."""
        out = []
        for ref in self.outputs:
            node, port = parse_ref(ref)
            out.append((node, port or self.node(node).output_ports[0]))
        return out

    # ---- editing: nodes --------------------------------------------------------------
    def check_add_node(self, node_id, op, attrs=None, *, lenient=False):
        """Raise the error :meth:`add_node` would raise, without changing anything.

        Returns the registered op, or ``None`` for a placeholder (``lenient``).
        """
        if not isinstance(node_id, str) or not ID_PATTERN.match(node_id):
            raise GraphError(f"node id {node_id!r} is not valid: use letters, digits "
                             "and _, not starting with a digit", node=node_id)
        if node_id in self.nx:
            raise GraphError(f"node id '{node_id}' is used twice: ids must be unique",
                             node=node_id)
        try:
            op_def = get_op(op, node=node_id)
        except GraphError:
            if lenient and isinstance(op, str):
                return None
            raise
        try:
            op_def.resolve_attrs(attrs or {}, node=node_id)
        except AttrError:
            if not lenient:
                raise
        return op_def

    def add_node(self, node_id, op, attrs=None, ui=None, *, index=None,
                 lenient=False):
        """Add a node; returns its id.

        Parameters
        ----------
        node_id : str
        op : str
            Registered op name.
        attrs, ui : dict, optional
        index : int, optional
            Position in file order (undo re-inserts where the node was).
        lenient : bool
            Keep a node whose op is unknown as a placeholder, and attributes
            that do not validate, instead of raising (:meth:`check` reports
            them). Used to open files from newer versions or with mistakes.

        Raises
        ------
        GraphError
            Bad or duplicate id, unknown op (with the closest name).
        AttrError
            Unknown attribute or a value of the wrong type or range.
        """
        op_def = self.check_add_node(node_id, op, attrs, lenient=lenient)
        self.nx.add_node(node_id, op=op, op_def=op_def, attrs=dict(attrs or {}),
                         ui=dict(ui or {}))
        if index is None:
            self._order.append(node_id)
        else:
            self._order.insert(index, node_id)
        self._emit("node_added", node_id)
        return node_id

    def remove_node(self, node_id):
        """Remove a node and its edges; returns the removed edges (for undo)."""
        self.node(node_id)
        removed = [e for e in self._edges if node_id in (e.src, e.dst)]
        for e in removed:
            self.disconnect(e.dst, e.dst_port)
        self.nx.remove_node(node_id)
        self._into.pop(node_id, None)
        self._order.remove(node_id)
        self.outputs = [o for o in self.outputs if parse_ref(o)[0] != node_id]
        self._emit("node_removed", node_id)
        return removed

    def set_attrs(self, node_id, attrs):
        """Replace a node's attributes (validated first)."""
        node = self.node(node_id)
        if not node.placeholder:
            node.op_def.resolve_attrs(attrs, node=node_id)
        self.nx.nodes[node_id]["attrs"] = dict(attrs)
        self._emit("attrs_changed", node_id)

    def set_attr(self, node_id, key, value):
        """Set one attribute; ``value=None`` removes it (back to its default)."""
        attrs = self.node(node_id).attrs
        if value is None:
            attrs.pop(key, None)
        else:
            attrs[key] = value
        self.set_attrs(node_id, attrs)

    def set_ui(self, node_id, ui):
        """Replace a node's ``ui`` object (position, colour, group…)."""
        self.node(node_id)
        self.nx.nodes[node_id]["ui"] = dict(ui)
        self._emit("ui_changed", node_id)

    def update_ui(self, node_id, **changes):
        ui = self.node(node_id).ui
        ui.update(changes)
        self.set_ui(node_id, ui)

    def rename_node(self, old, new):
        """Give a node a new id, keeping its edges, outputs and parameters."""
        node = self.node(old)
        if new == old:
            return
        self.check_add_node(new, node.op, node.attrs, lenient=True)
        edges = [(i, e) for i, e in enumerate(self._edges) if old in (e.src, e.dst)]
        index = self._order.index(old)
        data = dict(self.nx.nodes[old])
        for _, e in reversed(edges):
            self.disconnect(e.dst, e.dst_port)
        self.nx.remove_node(old)
        self._into.pop(old, None)
        self.nx.add_node(new, **data)
        self._order[index] = new
        for i, e in edges:  # back where they were in file order
            self.connect(f"{new if e.src == old else e.src}:{e.src_port}",
                         f"{new if e.dst == old else e.dst}:{e.dst_port}", index=i)
        self.outputs = [new + ref[len(old):] if parse_ref(ref)[0] == old else ref
                        for ref in self.outputs]
        for key in list(self.params):
            if key == old or key.startswith(old + "."):
                self.params[new + key[len(old):]] = self.params.pop(key)
        _rename_references(self, old, new)
        self._emit("node_renamed", (old, new))

    # ---- editing: edges --------------------------------------------------------------
    def resolve_edge(self, src, dst):
        """Parse edge ends into an :class:`Edge`, filling in default ports.

        Raises ``GraphError``/``PortError`` for unknown nodes or ports.
        """
        s_node, s_port = parse_ref(src)
        d_node, d_port = parse_ref(dst)
        for n, ref in ((s_node, src), (d_node, dst)):
            if n not in self.nx:
                raise GraphError(f"edge {src!r} → {dst!r} names node '{n}', which does "
                                 "not exist", node=d_node if n == s_node else s_node)
        outs = self.node(s_node).output_ports
        if s_port is None:
            s_port = outs[0]
        elif s_port not in outs and not self.node(s_node).placeholder:
            raise PortError(f"{self.node(s_node).op} has no output port '{s_port}' "
                            f"(outputs: {', '.join(outs)})", node=s_node)
        ins = self.node(d_node).input_ports
        if d_port is None:
            if len(ins) != 1:
                raise PortError(f"edge from '{src}' must name an input port of "
                                f"{self.node(d_node).op}, one of {', '.join(ins)} "
                                f"(write \"{d_node}:{ins[0] if ins else 'port'}\")",
                                node=d_node)
            d_port = ins[0]
        elif d_port not in ins and not self.node(d_node).placeholder:
            what = f"inputs: {', '.join(ins)}" if ins else "it has no inputs"
            raise PortError(f"{self.node(d_node).op} has no input port '{d_port}' "
                            f"({what})", node=d_node)
        return Edge(s_node, s_port, d_node, d_port)

    def check_connect(self, src, dst):
        """Raise the error :meth:`connect` would raise; return the Edge otherwise."""
        edge = self.resolve_edge(src, dst)
        taken = self.in_edges(edge.dst).get(edge.dst_port)
        if taken is not None:
            raise DuplicateEdgeError(
                f"input '{edge.dst_port}' already has an edge from "
                f"'{taken.src}:{taken.src_port}': an input takes one edge; remove "
                "that one first", node=edge.dst)
        if edge.src == edge.dst or nx.has_path(self.nx, edge.dst, edge.src):
            path = [edge.src] if edge.src == edge.dst else nx.shortest_path(
                self.nx, edge.dst, edge.src)
            cycle = " → ".join(path + [path[0]])
            raise CycleError(f"connecting '{edge.src}' to '{edge.dst}' would make a "
                             f"cycle: {cycle}", cycle=path, node=edge.dst)
        return edge

    def connect(self, src, dst, *, index=None):
        """Add an edge from ``src`` (``"node"`` or ``"node:port"``) to ``dst``.

        Raises
        ------
        PortError, DuplicateEdgeError, CycleError
            Checked before anything changes.
        """
        edge = self.check_connect(src, dst)
        node = self.nx.nodes[edge.dst]
        if node["op_def"] is None:
            node.setdefault("ports_in", [])
            if edge.dst_port not in node["ports_in"]:
                node["ports_in"].append(edge.dst_port)
        src_data = self.nx.nodes[edge.src]
        if src_data["op_def"] is None:
            src_data.setdefault("ports_out", [])
            if edge.src_port not in src_data["ports_out"]:
                src_data["ports_out"].append(edge.src_port)
        self.nx.add_edge(edge.src, edge.dst, key=edge.dst_port, src_port=edge.src_port)
        self._into.setdefault(edge.dst, {})[edge.dst_port] = edge
        if index is None:
            self._edges.append(edge)
        else:
            self._edges.insert(index, edge)
        self._emit("edge_added", edge)
        return edge

    def disconnect(self, node_id, port):
        """Remove the edge into ``node_id:port``; returns ``(edge, index)``."""
        edge = self._into.get(node_id, {}).get(port)
        if edge is None:
            raise PortError(f"input '{port}' has no edge to remove", node=node_id)
        index = self._edges.index(edge)
        del self._into[node_id][port]
        self.nx.remove_edge(edge.src, edge.dst, key=edge.dst_port)
        del self._edges[index]
        self._edge_text.pop(edge, None)
        self._emit("edge_removed", edge)
        return edge, index

    # ---- editing: the rest -----------------------------------------------------------
    def set_outputs(self, outputs):
        for ref in outputs:
            node, port = parse_ref(ref)
            if node not in self.nx:
                raise GraphError(f"output '{ref}' names no node", node=node)
            if port is not None and port not in self.node(node).output_ports:
                raise PortError(f"output '{ref}': {self.node(node).op} has no output "
                                f"port '{port}'", node=node)
        self.outputs = list(outputs)
        self._emit("meta_changed", "outputs")

    def set_meta(self, key, value):
        """Set ``name``, ``train`` or ``tests``."""
        if key not in ("name", "train", "tests"):
            raise GraphError(f"unknown graph setting '{key}'")
        setattr(self, key, value)
        self._emit("meta_changed", key)

    def set_params(self, params):
        """Replace the parameter values (``{key: ndarray}``, see :attr:`params`).

        Emits ``params_changed`` with the keys set, changed or removed.

        Examples
        --------
        >>> import numpy as np
        >>> g = Graph()
        >>> events = []
        >>> g.subscribe(lambda event, keys: events.append((event, keys)))
        >>> g.set_params({"w": np.zeros(2)})
        >>> events
        [('params_changed', ['w'])]
        """
        new = dict(params)
        old = self.params
        keys = [k for k in old if k not in new or new[k] is not old[k]]
        keys += [k for k in new if k not in old]
        self.params = new
        if keys:
            self._emit("params_changed", keys)

    def set_train(self, train):
        """Set the ``train`` section (a dict, or None); emits ``meta_changed``."""
        if train is not None and not isinstance(train, dict):
            raise GraphError("the train section must be a dict (loss, data, "
                             f"optimizer, ...), not {type(train).__name__}")
        self.set_meta("train", train)

    # ---- analysis --------------------------------------------------------------------
    def analyse(self):
        """Shapes, errors and warnings of every node, without raising.

        See :func:`graphlab.validate.analyse`.
        """
        return analyse(self)

    def check(self):
        """Validate the whole graph; returns the list of warnings.

        Raises
        ------
        GraphError, AttrError, PortError, ShapeError
            The first problem in topological order, naming its node.
        """
        report = self.analyse()
        if report.errors:
            raise report.errors[0]
        return report.warnings

    def infer_shapes(self):
        """``{node id: shape}`` (the first output's); raises like :meth:`check`."""
        report = self.analyse()
        if report.errors:
            raise report.errors[0]
        return {n: s[0] for n, s in report.shapes.items()}

    def parameter_count(self, trainable_only=False):
        total = 0
        for n in self._order:
            node = self.node(n)
            if node.op == "Parameter" and not node.placeholder:
                try:
                    attrs = node.resolved
                except AttrError:
                    continue
                if trainable_only and not attrs["trainable"]:
                    continue
                total += node.op_def.parameters(attrs)
        return total

    def copy(self):
        """A deep copy without listeners.

        Everything is copied as it is: placeholder nodes and attributes that do
        not validate, the ``train`` and ``tests`` sections, the parameter
        arrays (the sidecar file is not read again), ``params_file`` and
        ``path``; saving the copy writes the same file.

        Examples
        --------
        >>> g = Graph("g")
        >>> _ = g.add_node("x", "Input", {"shape": [2]})
        >>> c = g.copy()
        >>> c.set_attr("x", "shape", [3])
        >>> g.node("x").attrs, c.node("x").attrs
        ({'shape': [2]}, {'shape': [3]})
        """
        g = Graph(self.name)
        for node_id in self._order:
            data = dict(self.nx.nodes[node_id])
            for key in ("attrs", "ui", "ports_in", "ports_out"):
                if key in data:
                    data[key] = copy.deepcopy(data[key])
            g.nx.add_node(node_id, **data)
        g._order = list(self._order)
        for edge in self._edges:  # valid already: no checks, no events
            g.nx.add_edge(edge.src, edge.dst, key=edge.dst_port, src_port=edge.src_port)
            g._into.setdefault(edge.dst, {})[edge.dst_port] = edge
        g._edges = list(self._edges)
        g._edge_text = dict(self._edge_text)
        g.outputs = list(self.outputs)
        g.train, g.tests, g.extra = copy.deepcopy((self.train, self.tests, self.extra))
        g.params = {k: np.array(v) for k, v in self.params.items()}
        g.params_file, g.path = self.params_file, self.path
        return g

    def __repr__(self):
        return (f"<Graph {self.name!r}: {len(self._order)} nodes, "
                f"{len(self._edges)} edges>")
