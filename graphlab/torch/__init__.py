"""graphlab on PyTorch: the graph as an ``nn.Module``, as source, and trained by
PyTorch's engine (one process or many, CPU or GPU).

Importing this package does not import PyTorch; its functions do, when called,
and without PyTorch they raise a :class:`graphlab.GraphlabError` saying how to
install it. The modules inside (:mod:`.emit`, :mod:`.module`, :mod:`.export`,
:mod:`.train`) import ``torch`` at the top.
"""

from ..errors import GraphlabError

__all__ = ["to_torch", "from_torch_state", "to_source", "require_torch"]

INSTALL = "PyTorch is not installed: pip install graphlab[torch]"


def require_torch():
    """Import and return ``torch``, or raise a one-line GraphlabError."""
    try:
        import torch
    except ImportError:
        raise GraphlabError(INSTALL) from None
    return torch


def to_torch(graph, *, outputs=None, dtype="float32", seed=0, training=True):
    """The graph as a ``torch.nn.Module``; see
    :func:`graphlab.torch.module.to_torch`."""
    require_torch()
    from .module import to_torch as build
    return build(graph, outputs=outputs, dtype=dtype, seed=seed, training=training)


def from_torch_state(graph, module):
    """Trained values back into ``graph.params``; see
    :func:`graphlab.torch.module.from_torch_state`."""
    require_torch()
    from .module import from_torch_state as write_back
    return write_back(graph, module)


def to_source(graph, **options):
    """Standalone PyTorch source; see :func:`graphlab.torch.export.to_source`."""
    require_torch()
    from .export import to_source as source
    return source(graph, **options)
