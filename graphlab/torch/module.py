"""``to_torch`` and ``from_torch_state``: a graph as a live ``torch.nn.Module``.

Assumes a graph that passes :meth:`Graph.check` (``to_torch`` checks it). The
module's class is the source :func:`graphlab.torch.emit.module_source` writes,
executed as it is; its values are those the executor starts from
(:func:`graphlab.program.init_params`: the sidecar or trained values, then
``attrs.value``, then the ``init`` rule with the same seed).
"""

import functools

import numpy as np

from . import helpers
from .emit import module_source

__all__ = ["to_torch", "from_torch_state", "graph_module_class"]

@functools.lru_cache(maxsize=None)
def graph_module_class():
    """``GraphModule``, the base of the modules :func:`to_torch` builds (defined
    on first use, so that importing graphlab never imports PyTorch).

    Feeds may be NumPy arrays or numbers, converted to the module's float dtype
    (or int64 for labels), and an Input with a ``value`` need not be fed.
    ``graph_source`` holds the class source; ``graph_info`` what it declares.
    """
    helpers.load()
    torch, nn = helpers.torch, helpers.nn

    class GraphModule(nn.Module):
        graph_info = None
        graph_values = {}

        def __init__(self):
            super().__init__()
            # Follows .double(), .to(device): the dtype and device feeds take.
            self.register_buffer("_anchor", torch.zeros(0), persistent=False)

        def __call__(self, *args, **feeds):
            return super().__call__(*args, **self._convert(feeds))

        def _convert(self, feeds):
            dtype, device = self._anchor.dtype, self._anchor.device
            out = {}
            for node, arg, _, kind in self.graph_info.inputs:
                value = feeds.pop(node, None)
                if value is None:
                    value = self.graph_values.get(node)
                    if value is None:
                        raise TypeError(f"no value for Input '{node}': feed one")
                want = dtype if kind.startswith("float") else torch.int64
                if isinstance(value, torch.Tensor):
                    t = value.to(device=device, dtype=want) if value.dtype != want \
                        or value.device != device else value
                else:
                    t = torch.as_tensor(np.asarray(value), dtype=want, device=device)
                out[node] = t
            if feeds:
                raise TypeError(f"there is no Input {', '.join(map(repr, feeds))} "
                                "to feed")
            return out

    return GraphModule


def to_torch(graph, *, outputs=None, dtype="float32", seed=0, training=True):
    """The graph as a ``torch.nn.Module`` computing what the executor computes.

    Parameters
    ----------
    graph : Graph
    outputs : list of str, optional
        Refs the module returns (default: the graph's outputs).
    dtype : str
        ``"float32"`` (default) or ``"float64"``.
    seed : int
        Seeds the initialisation of Parameters that hold no value, as
        :func:`graphlab.compile` does.
    training : bool
        Start in training mode (Dropout active, BatchNorm on batch statistics);
        ``module.eval()`` switches, as for any module.

    Returns
    -------
    torch.nn.Module
        Trainable Parameters are ``nn.Parameter`` s named by node id, frozen ones
        and BatchNorm running statistics (``<node>.running_mean``) buffers;
        ``module(**feeds)`` returns ``{output ref: tensor}``.

    Examples
    --------
    >>> import graphlab as gl
    >>> m = gl.to_torch(gl.load("samples/cs231n.graph.json"), dtype="float64")
    >>> float(m(x=-2.0, y=5.0, z=-4.0)["f"])
    -12.0
    """
    from ..program import init_params
    ns = helpers.load()
    torch = ns["torch"]
    graph.check()
    info = module_source(graph, outputs=outputs)
    exec(compile(info.source, f"<graphlab.torch: {graph.name}>", "exec"), ns)
    cls = type(info.class_name, (graph_module_class(), ns[info.class_name]), {
        "graph_info": info, "graph_source": info.source})
    module = cls().to(getattr(torch, str(np.dtype(dtype))))
    values = init_params(graph, info.schedule, np.float64, seed)
    with torch.no_grad():
        for node, attr, shape, _ in info.params:
            getattr(module, attr).copy_(torch.as_tensor(values[node]))
        for node, attr, _ in info.stats:
            stats = getattr(module, attr)
            for key in ("running_mean", "running_var"):
                if f"{node}.{key}" in graph.params:
                    getattr(stats, key).copy_(torch.as_tensor(
                        np.asarray(graph.params[f"{node}.{key}"], np.float64)))
    module.graph_values = {node: graph.node(node).resolved["value"]
                           for node, *_ in info.inputs
                           if graph.node(node).resolved["value"] is not None}
    return module.train(training)


def from_torch_state(graph, module):
    """Write a module's trained values back into ``graph.params``.

    Parameters (trainable and frozen) go under their node ids, BatchNorm
    running statistics under ``<node>.running_mean`` and ``.running_var``, as
    the NumPy trainer writes them; :func:`graphlab.save` then writes the
    sidecar, and the editor and ``graphlab explain`` see the trained model.

    Parameters
    ----------
    graph : Graph
    module : torch.nn.Module
        A module from :func:`to_torch` (or one wrapped by
        ``DistributedDataParallel``), or anything whose ``state_dict`` is keyed
        as its is.

    Returns
    -------
    list of str
        The keys written.
    """
    helpers.load()
    inner = getattr(module, "module", module)
    info = getattr(inner, "graph_info", None)
    state = inner.state_dict()
    params = dict(graph.params)
    written = []
    keys = [n for n, *_ in info.params] if info else [n for n in graph.nodes
                                                       if n in state]
    for node in keys:
        attr = info.attr_of(node) if info else node
        if attr in state and node in graph:
            params[node] = state[attr].detach().cpu().numpy().copy()
            written.append(node)
    for node, attr, _ in (info.stats if info else []):
        for key in ("running_mean", "running_var"):
            value = state[f"{attr}.{key}"].detach().cpu().numpy()
            params[f"{node}.{key}"] = value.copy()
            written.append(f"{node}.{key}")
    graph.params = params
    return written
