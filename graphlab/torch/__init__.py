"""graphlab on PyTorch: the graph as an ``nn.Module``, as source, and trained by
PyTorch's engine (one process or many, CPU or GPU).

``import graphlab`` never imports this package; :func:`graphlab.to_torch` and
the ``--backend torch`` options import it when used. Without PyTorch, importing
it raises a :class:`graphlab.GraphlabError` saying how to install it.
"""

from ..errors import GraphlabError

try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised with torch hidden
    raise GraphlabError("PyTorch is not installed: pip install graphlab[torch]") \
        from None

from .export import to_source  # noqa: E402
from .module import from_torch_state, to_torch  # noqa: E402

__all__ = ["to_torch", "from_torch_state", "to_source"]
