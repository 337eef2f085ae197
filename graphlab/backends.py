"""``graphlab.train``: training on the NumPy backend or on PyTorch.

The NumPy trainer is :func:`graphlab.train.train`; ``backend="torch"`` hands the
same arguments to :func:`graphlab.torch.train.train_torch`, which imports
PyTorch only then. (This dispatch lives apart from both so that neither
imports the other's module: the torch trainer extends the NumPy one.)
"""

from .errors import TrainingError

__all__ = ["train"]


def train(graph, epochs=None, batch_size=None, lr=None, callbacks=(), seed=None,
          backend="numpy", **options):
    """Train ``graph`` as its ``train`` section says; returns a ``History``.

    Parameters
    ----------
    graph : Graph
    epochs, batch_size, lr, callbacks, seed, **options
        As for :func:`graphlab.train.train` (``progress``, ``checkpoint``,
        ``resume``, ``optimizer``, ``dtype``…).
    backend : str
        ``"numpy"`` (default): the generated NumPy code. ``"torch"``: the same
        trainer with PyTorch's steps; it also takes ``device`` (``"cpu"`` or
        ``"cuda"``) and ``nproc`` (processes, each taking its share of every
        batch).

    Examples
    --------
    >>> import graphlab as gl
    >>> h = gl.train(gl.load("samples/mlp_xor.graph.json"), epochs=3)
    >>> len(h.epochs)
    3
    """
    if backend == "torch":
        from .torch import require_torch
        require_torch()
        from .torch.train import train_torch
        return train_torch(graph, epochs=epochs, batch_size=batch_size, lr=lr,
                           callbacks=callbacks, seed=seed, **options)
    if backend != "numpy":
        raise TrainingError(f"backend {backend!r}: choose 'numpy' or 'torch'")
    from .train import train as train_numpy
    return train_numpy(graph, epochs=epochs, batch_size=batch_size, lr=lr,
                       callbacks=callbacks, seed=seed, **options)
