"""What a graph computes over the input plane: the Playground's pictures, headless.

Assumes a checked graph whose ``train`` section names a 2-D set of
:mod:`graphlab.datasets2d` (or has one float Input of shape N×2). A
:class:`Surface` compiles the graph for evaluation with, as outputs, the
classifier's logits and, on request, one node whose output has a feature axis
(N×U); :meth:`Surface.compute` runs a grid of points of the plane, turned into
the dataset's feature columns, through that program in one batch. The editor's
Playground view and ``graphlab train --plot`` both draw from it; :func:`colors`
turns values into the Playground's orange–white–blue.
"""

import numpy as np

from . import datasets2d
from . import data as datasets
from .errors import GraphlabError, TrainingError
from .program import Program

__all__ = ["Surface", "plane_grid", "colors", "playground_input", "unit_nodes",
           "output_ref", "ORANGE", "BLUE", "WHITE"]

ORANGE = (245, 147, 34)  # class 0, negative values
BLUE = (8, 119, 189)  # class 1, positive values
WHITE = (232, 234, 237)


def plane_grid(resolution, extent=datasets2d.EXTENT):
    """Pixel centres of a ``resolution``² grid over [−extent, extent]².

    Row 0 is the top (x₂ = +extent side), as an image is drawn.

    Returns
    -------
    ndarray, shape (resolution², 2)
        x₁, x₂ per point, row by row.

    Examples
    --------
    >>> plane_grid(2, 1.0).tolist()
    [[-0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]]
    """
    step = 2.0 * extent / resolution
    c = -extent + step * (np.arange(resolution) + 0.5)
    x1, x2 = np.meshgrid(c, c[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _lut(strength):
    """255 colours from orange (0) through white (127) to blue (254)."""
    t = np.linspace(-1.0, 1.0, 255)[:, None] * strength
    white = np.asarray(WHITE, np.float64)
    end = np.where(t < 0, np.asarray(ORANGE, np.float64), np.asarray(BLUE, np.float64))
    return np.rint(white + (end - white) * np.abs(t)).astype(np.uint8)


_LUTS = {}


def colors(values, lo=-1.0, hi=1.0, strength=1.0):
    """RGB bytes for values: ``lo`` orange, the middle white, ``hi`` blue.

    Parameters
    ----------
    values : ndarray
        Any shape; NaN maps to the middle.
    lo, hi : float
    strength : float
        How far the ends go from white to full colour (below 1 for a
        background that points in full colour stand out on).

    Returns
    -------
    ndarray, uint8, shape ``values.shape + (3,)``
        From a table of 255 colours (one lookup per value, fast enough for
        every frame).
    """
    lut = _LUTS.get(strength)
    if lut is None:
        lut = _LUTS[strength] = _lut(strength)
    v = np.asarray(values, dtype=np.float32)
    scale = np.float32(254.0 / max(hi - lo, 1e-12))
    idx = (v - np.float32(lo)) * scale
    np.clip(idx, 0, 254, out=idx)
    idx[np.isnan(idx)] = 127
    return lut[(idx + np.float32(0.5)).astype(np.uint8)]


def playground_input(graph):
    """``(Input id, feature names, dataset spec or None)`` of a 2-D graph, or None.

    The Input is the one the train section feeds from a 2-D set's ``inputs``
    (its width the number of features), else a lone float Input of shape N×2.
    """
    train = graph.train or {}
    spec = train.get("data") or {}
    try:
        shapes = graph.infer_shapes()
        inputs = [n for n in graph.nodes if graph.node(n).op == "Input"
                  and str(graph.node(n).resolved["dtype"]).startswith("float")]
    except GraphlabError:  # an unfinished graph has no plane to show
        return None
    name = spec.get("dataset")
    if isinstance(name, str) and datasets2d.is_2d(name):
        try:
            features = datasets2d.check_features(spec.get("features"))
        except ValueError:
            return None
        feeds = spec.get("feeds") or {n: n for n in inputs}
        for n in inputs:
            shape = list(shapes.get(n) or [])
            if feeds.get(n) == "inputs" and len(shape) == 2 and \
                    shape[1] == len(features):
                return n, features, spec
        return None
    two = [n for n in inputs if len(shapes.get(n) or []) == 2 and shapes[n][1] == 2]
    return (two[0], ["x1", "x2"], None) if len(two) == 1 else None


def unit_nodes(graph, input_id=None):
    """Nodes whose output is N×U (U units) and depends on the plane's Input."""
    import networkx as nx
    shapes = graph.infer_shapes()
    if input_id is None:
        found = playground_input(graph)
        input_id = found[0] if found else None
    after = nx.descendants(graph.nx, input_id) if input_id in graph else set()
    out = []
    for n in graph.topological_order():
        s = shapes.get(n)
        if n in after and s is not None and len(s) == 2 and isinstance(s[1], int) \
                and graph.node(n).op not in ("CrossEntropyLoss",):
            out.append(n)
    return out


def output_ref(graph):
    """``(ref, is_classifier)``: the logits of the CrossEntropyLoss behind the
    loss, else the first output of shape N×K."""
    import networkx as nx
    loss = (graph.train or {}).get("loss") or (graph.outputs[0] if graph.outputs
                                                else None)
    if loss is not None and loss.partition(":")[0] in graph:
        node = loss.partition(":")[0]
        ces = [node] if graph.node(node).op == "CrossEntropyLoss" else [
            n for n in nx.ancestors(graph.nx, node)
            if graph.node(n).op == "CrossEntropyLoss"]
        if len(ces) == 1:
            e = graph.in_edges(ces[0])["logits"]
            first = graph.node(e.src).output_ports[0] == e.src_port
            return (e.src if first else f"{e.src}:{e.src_port}"), True
    shapes = graph.infer_shapes()
    for ref in graph.outputs:
        s = shapes.get(ref.partition(":")[0])
        if s is not None and len(s) == 2:
            return ref, False
    raise TrainingError("the graph has no classifier output to draw over the plane "
                        "(a CrossEntropyLoss's logits, or an output of shape N×K)")


class Surface:
    """The output (and one node's units) of a graph over a grid of the plane.

    Parameters
    ----------
    graph : Graph
        A checked graph with a 2-D input (see :func:`playground_input`).
    resolution : int
        Grid points per side.
    node : str, optional
        A node of :func:`unit_nodes` whose units to compute as well.
    dtype : str

    Attributes
    ----------
    input : str
        The Input fed with the feature columns.
    features : list of str
    points : ndarray (resolution², 2)
        The grid, row 0 at the top.
    program : Program
        The evaluation program; :meth:`load` updates its parameters.
    """

    def __init__(self, graph, resolution=64, node=None, dtype="float32"):
        found = playground_input(graph)
        if found is None:
            raise TrainingError("the graph's input is not a point of the plane: it "
                                "needs a 2-D dataset (circle, xor, gauss, spiral) in "
                                "its train section, or one Input of shape N×2")
        self.graph = graph
        self.input, self.features, self.spec = found
        self.resolution = int(resolution)
        self.points = plane_grid(self.resolution)
        self.feed = datasets2d.featurize(self.points, self.features)
        self.logits, self.classifier = output_ref(graph)
        if node is not None and node not in unit_nodes(graph, self.input):
            raise TrainingError(f"'{node}' has no N×U output computed from the "
                                "plane: pick a hidden Linear or an activation",
                                node=node)
        self.node = node
        outputs = [self.logits] + ([node] if node and node != self.logits else [])
        self.program = Program(graph, training=False, outputs=outputs, grad=False,
                               dtype=dtype)
        self.feed = self.feed.astype(self.program.dtype)

    def load(self, state):
        """Parameter values (a program's ``state_dict()`` or ``graph.params``)."""
        self.program.load_state_dict({k: v for k, v in state.items()
                                      if k in self.program.params or "." in k})

    def output_value(self, raw):
        """The drawn value of logits rows: P(class 1) for two classes, the
        value itself for one column, the winning class's probability else."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 1 or raw.shape[-1] == 1:
            return raw.reshape(len(raw))
        if not self.classifier:
            return raw[:, 0]
        z = raw - raw.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, 1] if p.shape[1] == 2 else p.max(axis=1)

    def predict(self, points):
        """The drawn output value at arbitrary points (N×2)."""
        feed = datasets2d.featurize(points, self.features).astype(self.program.dtype)
        return self.output_value(self.program.forward({self.input: feed})[self.logits])

    def compute(self):
        """One batch forward of the grid.

        Returns
        -------
        dict
            ``output``: resolution×resolution output values (see
            :meth:`output_value`); ``units``: U×resolution×resolution values of
            the chosen node (None without one).
        """
        r = self.resolution
        out = self.program.forward({self.input: self.feed})
        result = {"output": self.output_value(out[self.logits]).reshape(r, r),
                  "units": None}
        if self.node:
            u = np.asarray(out[self.node], dtype=np.float64)
            result["units"] = u.T.reshape(u.shape[1], r, r)
        return result

    def incoming(self, unit):
        """``(names, weights, bias)`` of the Linear that computes ``unit`` of the
        chosen node (the node itself, or the Linear behind its activation), or
        None when there is no such Linear."""
        g = self.graph
        node = self.node
        while node is not None and g.node(node).op != "Linear":
            edges = g.in_edges(node)
            node = edges["x"].src if list(edges) == ["x"] else None
        if node is None:
            return None
        edges = g.in_edges(node)
        w = self.program.params.get(edges["w"].src) if "w" in edges else None
        if w is None:
            return None
        b = self.program.params.get(edges["b"].src) if "b" in edges else None
        src = edges["x"].src
        names = list(self.features) if src == self.input else [
            f"{src}[{j}]" for j in range(w.shape[1])]
        return names, np.array(w[unit]), None if b is None else float(b[unit])

    def dataset(self):
        """``(train, test)`` as ``{"points", "labels"}`` dicts, split as
        training splits them, or None without a 2-D dataset."""
        if self.spec is None:
            return None
        arrays = datasets.load_dataset(self.spec)
        fraction = self.spec.get("test_fraction",
                                 datasets.default_test_fraction(self.spec["dataset"]))
        if "points" not in arrays:  # the XOR truth table
            arrays["points"] = arrays["inputs"][:, :2]
        pick = {"points": arrays["points"], "labels": arrays["labels"]}
        return datasets.split(pick, fraction, self.spec.get("seed", 0))
