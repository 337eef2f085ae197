"""One tree of errors for everything graphlab raises on purpose.

Every error can carry the file and node it is about, so that the command line
prints ``error: FILE: node 'ID': what is wrong`` and the editor can paint the
node red.
"""

__all__ = [
    "GraphlabError",
    "GraphError",
    "FileFormatError",
    "CycleError",
    "PortError",
    "DuplicateEdgeError",
    "AttrError",
    "ShapeError",
    "LoweringError",
    "ExecutionError",
    "TrainingError",
]


class GraphlabError(Exception):
    """Base of all graphlab errors.

    Parameters
    ----------
    message : str
        What is wrong and, where it helps, what to do.
    node : str, optional
        Id of the node the error is about.
    file : str, optional
        Path of the graph file, filled in by the loader and the command line.
    """

    def __init__(self, message, *, node=None, file=None):
        super().__init__(message)
        self.message = message
        self.node = node
        self.file = file

    def where(self):
        """``FILE: node 'ID'`` (the parts that are known), or ``''``."""
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.node is not None:
            parts.append(f"node '{self.node}'")
        return ": ".join(parts)

    def __str__(self):
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class GraphError(GraphlabError):
    """The graph is not well formed (ids, edges, ports, outputs, ops)."""


class FileFormatError(GraphError):
    """The file is not a graph file: bad JSON, wrong version, wrong layout."""


class CycleError(GraphError):
    """An edge would close a cycle, or the file's edges form one."""

    def __init__(self, message, *, cycle=(), node=None, file=None):
        super().__init__(message, node=node, file=file)
        self.cycle = list(cycle)


class PortError(GraphError):
    """A port that does not exist, is taken, or is missing."""


class DuplicateEdgeError(PortError):
    """An input port would receive a second edge."""


class AttrError(GraphError):
    """An attribute is unknown or its value has the wrong type or range."""


class ShapeError(GraphlabError):
    """Input shapes do not fit the op."""


class LoweringError(GraphlabError):
    """The graph cannot be turned into a program."""


class ExecutionError(GraphlabError):
    """A run failed: a feed is missing or of the wrong shape, or a value is NaN."""


class TrainingError(GraphlabError):
    """Training cannot start or had to stop (divergence, bad data)."""
