"""Graph files (``*.graph.json``): reading, migrating, writing atomically.

The format is SPEC section 1. Reading checks the file's structure (JSON,
version, ids, ops, attributes, edges, outputs, sidecar parameters) and raises
one :class:`GraphError` naming the file and node; shapes are checked later by
:meth:`Graph.check`. Writing keeps node and edge order and the way each edge
was spelled, so that saving an unchanged graph reproduces its file.
"""

import difflib
import json
import os
import stat
import tempfile
import zipfile

import numpy as np

from .errors import FileFormatError, GraphError, GraphlabError, TrainingError
from .graph import Graph, parse_ref
from .tojson import jsonable

__all__ = ["FORMAT_VERSION", "load", "loads", "save", "dumps", "from_dict", "to_dict",
           "node_dict", "read_npz",
           "load_params", "save_params", "check_target"]

FORMAT_VERSION = 1

# Older format versions and the function that lifts a file to the next one.
# Version 1 is the first published format, so nothing needs lifting yet; a
# reader that meets version 2 files one day adds ``1: _v1_to_v2`` here.
_MIGRATIONS = {}

_TOP_KEYS = ("graphlab", "name", "nodes", "edges", "outputs", "params", "train",
             "tests")
_NODE_KEYS = ("id", "op", "attrs", "ui")


# ---- reading -------------------------------------------------------------------------

def load(path, *, lenient=False):
    """Read a graph file.

    Parameters
    ----------
    path : str or os.PathLike
    lenient : bool
        Keep nodes with unknown ops (as placeholders) and invalid attributes
        instead of refusing the file; :meth:`Graph.check` then reports them.
        The editor opens files this way so that nothing is lost.

    Returns
    -------
    Graph
        A ``.onnx`` file is imported (:func:`graphlab.from_onnx`).

    Raises
    ------
    GraphError
        With ``file`` set and, where it applies, ``node``.

    Examples
    --------
    >>> import graphlab as gl
    >>> g = gl.load("samples/cs231n.graph.json")
    >>> g.outputs
    ['f']
    """
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):  # SPEC 5: a .onnx file wherever a graph is
        from .onnx import from_onnx
        try:
            return from_onnx(path)
        except GraphlabError as e:
            e.file = e.file or path
            raise
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise GraphError("no such file", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise GraphError(f"cannot read the file: {e}", file=path) from None
    try:
        g = loads(text, lenient=lenient, base_dir=os.path.dirname(path))
    except GraphlabError as e:
        e.file = path
        raise
    g.path = path
    return g


def loads(text, *, lenient=False, base_dir="."):
    """Read a graph from JSON text (see :func:`load`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            raise FileFormatError(f"the JSON ends early at line {e.lineno}, column "
                                  f"{e.colno}: the file looks truncated") from None
        raise FileFormatError(f"invalid JSON at line {e.lineno}, column {e.colno}: "
                              f"{e.msg}") from None
    except (ValueError, RecursionError) as e:  # a number of over 4,300 digits; nesting
        raise FileFormatError(f"cannot read the JSON: {str(e).split(';')[0]}") from None
    return from_dict(data, lenient=lenient, base_dir=base_dir)


def _migrate(data):
    version = data.get("graphlab")
    if version is None:
        raise FileFormatError("not a graphlab graph file: the top-level object has no "
                              "\"graphlab\" format version (write \"graphlab\": 1)")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(f"\"graphlab\" must be a format version such as 1, got "
                              f"{version!r}")
    if version > FORMAT_VERSION:
        raise FileFormatError(f"this file has format version {version}, written by a "
                              f"newer graphlab; this one reads up to version "
                              f"{FORMAT_VERSION}: upgrade graphlab to open it")
    while version < FORMAT_VERSION:
        data = _MIGRATIONS[version](data)
        version = data["graphlab"]
    return data


def from_dict(data, *, lenient=False, base_dir="."):
    """Build a :class:`Graph` from a parsed graph file (see :func:`load`)."""
    if not isinstance(data, dict):
        raise FileFormatError("a graph file is one JSON object with \"graphlab\", "
                              f"\"nodes\" and \"edges\"; this one is a "
                              f"{type(data).__name__}")
    data = _migrate(data)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise FileFormatError(f"\"name\" must be a string, got {name!r}")
    g = Graph(name)
    g.extra = {k: v for k, v in data.items() if k not in _TOP_KEYS}

    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        raise FileFormatError("\"nodes\" must be a list of node objects")
    for i, nd in enumerate(nodes):
        _read_node(g, i, nd, lenient)

    edges = data.get("edges", [])
    if not isinstance(edges, list):
        raise FileFormatError("\"edges\" must be a list of [source, target] pairs")
    for e in edges:
        if (not isinstance(e, list) or len(e) != 2
                or not all(isinstance(x, str) for x in e)):
            raise FileFormatError(f"edge {json.dumps(e)} must be a pair of strings "
                                  "[\"source\", \"target:port\"]")
        edge = g.connect(e[0], e[1])
        g._edge_text[edge] = tuple(e)

    outputs = data.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise FileFormatError("\"outputs\" must be a list of node ids")
    for ref in outputs:
        node, _ = parse_ref(ref)
        if node not in g:
            raise GraphError(f"\"outputs\" names '{ref}', which is not a node: use one "
                             "of the node ids", node=node)
    g.set_outputs(outputs)

    train = data.get("train")
    if train is not None and not isinstance(train, dict):
        raise FileFormatError("\"train\" must be an object (loss, data, optimizer, "
                              "...)")
    g.train = train
    tests = data.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise FileFormatError("\"tests\" must be a list of objects with \"at\", "
                              "\"expect\" and \"grads\"")
    g.tests = tests

    params = data.get("params")
    if params is not None:
        if not isinstance(params, str):
            raise FileFormatError("\"params\" must be the path of a .npz file, "
                                  "relative to the graph file")
        g.params_file = params
        g.params = load_params(g, os.path.join(base_dir, params))
    return g


def _read_node(g, i, nd, lenient):
    if not isinstance(nd, dict):
        raise FileFormatError(f"nodes[{i}] must be an object with \"id\" and \"op\", "
                              f"got {json.dumps(nd)}")
    node_id = nd.get("id")
    if node_id is None or "op" not in nd:
        missing = "id" if node_id is None else "op"
        raise GraphError(f"nodes[{i}] has no \"{missing}\"", node=node_id)
    for key in nd:
        if key not in _NODE_KEYS:
            close = difflib.get_close_matches(key, _NODE_KEYS, n=1)
            hint = f" (did you mean \"{close[0]}\"?)" if close else ""
            raise GraphError(f"unknown key \"{key}\"{hint}; a node has id, op, attrs "
                             "and ui", node=node_id)
    for key in ("attrs", "ui"):
        if not isinstance(nd.get(key, {}), dict):
            raise GraphError(f"\"{key}\" must be an object", node=node_id)
    g.add_node(node_id, nd["op"], nd.get("attrs"), nd.get("ui"), lenient=lenient)


def read_npz(path, what, error=GraphError, missing=None):
    """Every array of an ``.npz`` file, by name, without pickles.

    A missing or unreadable file raises ``error`` naming ``what`` it is
    ("the dataset file"); ``missing`` replaces the message for a missing file.
    """
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array (.npy), not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise error(missing or f"{what} '{path}' does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise error(f"cannot read {what} '{path}': {e or 'the file is damaged'}") \
            from None


def load_params(g, path):
    """Read a sidecar ``.npz``; arrays keyed by node id (``id.state`` for state)."""
    params = read_npz(path, "the parameter file", missing=(
        f"the parameter file '{path}' named by \"params\" does not exist: train and "
        "--save it, or remove the key"))
    for key, value in params.items():
        node = key.partition(".")[0]
        if node not in g:
            raise GraphError(f"the parameter file has an array for '{key}', but the "
                             "graph has no such node", node=node)
        nd = g.node(node)
        if "." not in key and nd.op == "Parameter" and not nd.placeholder:
            shape = tuple(nd.resolved["shape"])
            if value.shape != shape:
                raise GraphError(f"the parameter file's array has shape "
                                 f"{list(value.shape)}, the node expects {list(shape)}",
                                 node=node)
    return params


# ---- writing -------------------------------------------------------------------------

def to_dict(g):
    """The graph as a JSON-ready dict, in file order."""
    out = {"graphlab": FORMAT_VERSION, "name": g.name,
           "nodes": [node_dict(g, n) for n in g.nodes]}
    out["edges"] = [list(g._edge_text.get(e) or _edge_text(g, e)) for e in g.edges]
    out["outputs"] = list(g.outputs)
    if g.params_file:
        out["params"] = g.params_file
    if g.train is not None:
        out["train"] = g.train
    if g.tests:
        out["tests"] = g.tests
    out.update(g.extra)
    return out


def node_dict(g, node_id):
    """One node as the file writes it: id, op, and attrs and ui when not empty."""
    n = g.node(node_id)
    nd = {"id": node_id, "op": n.op}
    if n.attrs:
        nd["attrs"] = jsonable(n.attrs)
    if n.ui:
        nd["ui"] = jsonable(n.ui)
    return nd


def _edge_text(g, e):
    return (g.source_ref(e), f"{e.dst}:{e.dst_port}")


def _compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def dumps(g):
    """The graph file's text: one node and one edge per line; other sections
    compact where they fit in a line, indented where they do not."""
    d = to_dict(g)
    lines = ["{"]
    items = list(d.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key in ("nodes", "edges") and value:
            lines.append(f"  {json.dumps(key)}: [")
            lines += [f"    {_compact(x)}{',' if j < len(value) - 1 else ''}"
                      for j, x in enumerate(value)]
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {_pretty(value, 2)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pretty(value, indent, width=88):
    """JSON on one line if it fits in ``width`` columns, else one item a line."""
    flat = _compact(value)
    if len(flat) + indent + 20 <= width or not isinstance(value, (dict, list)) \
            or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        body = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, indent + 2)}"
                for k, v in value.items()]
        return "{\n" + ",\n".join(body) + "\n" + " " * indent + "}"
    body = [pad + _pretty(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(body) + "\n" + " " * indent + "]"


def _atomic_write(path, write):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path),
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp's file is private (0600): give what lands the mode of the
        # file it replaces, or of any new file the user makes (the umask)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save(g, path, *, params=True):
    """Write the graph atomically (a temporary file, then a rename).

    When the graph holds parameter values (``g.params``), they go to a sidecar
    ``.npz`` beside it (``g.params_file``, by default ``NAME.params.npz``),
    also written atomically, and the file's ``params`` key names it. A graph
    that holds none (its values were deleted or undone) names no sidecar: the
    old one would bring back values the graph no longer has, or name nodes
    that are gone.
    """
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):
        raise GraphError("a graph is saved as a .graph.json file, never over an ONNX "
                         "model: export ONNX with 'graphlab export' or gl.to_onnx",
                         file=path)
    if params and not g.params:
        g.params_file = None
    if params and g.params:
        if not g.params_file:
            stem = os.path.basename(path)
            for ext in (".graph.json", ".json"):
                if stem.endswith(ext):
                    stem = stem[: -len(ext)]
                    break
            g.params_file = stem + ".params.npz"
        save_params(g.params, os.path.join(os.path.dirname(path), g.params_file))
    text = dumps(g).encode("utf-8")
    try:
        _atomic_write(path, lambda f: f.write(text))
    except OSError as e:
        raise GraphError(f"cannot save: {e.strerror or e}", file=path) from None
    g.path = path


def save_params(params, path):
    """Write ``{key: array}`` to an ``.npz`` atomically."""
    arrays = {k: np.asarray(v) for k, v in params.items()}
    try:
        _atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise GraphError(f"cannot save parameters: {e.strerror or e}",
                         file=path) from None


def check_target(flag, target, graph_file=None):
    """Refuse, before training, a path for trained values or a checkpoint that
    would overwrite a graph file (``graph_file`` or any other) or cannot be
    written: ``TrainingError`` whose message starts with ``flag`` (the option
    that named it, ``--checkpoint`` or ``checkpoint=``)."""
    where = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise TrainingError(f"{flag} {target} is a directory: give a file name such as "
                            f"{os.path.join(target, 'params.npz')}")
    same = graph_file and os.path.exists(graph_file) and os.path.exists(target) \
        and os.path.samefile(target, graph_file)
    if same or (os.path.exists(target) and _is_graph_file(target)):
        raise TrainingError(f"{flag} {target} would overwrite a graph file: give a "
                            ".npz file name such as params.npz")
    if target.endswith(".graph.json"):
        raise TrainingError(f"{flag} {target} is named like a graph file: give a .npz "
                            "file name such as params.npz")
    if not os.path.isdir(where):
        raise TrainingError(f"{flag} {target}: the directory {where} does not exist; "
                            "create it first")


def _is_graph_file(path):
    """Whether ``path`` holds a graph file (JSON with ``"graphlab"`` and
    ``"nodes"``), whatever its name."""
    if path.endswith(".graph.json"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and b'"graphlab"' in head and b'"nodes"' in head
