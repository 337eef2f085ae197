"""Canvas items: they draw the graph and never edit it."""

from .edge import EdgeItem
from .edge_layer import EdgeLayerItem
from .group import GroupItem
from .node import NodeItem
from .note import NoteItem

__all__ = ["NodeItem", "EdgeItem", "EdgeLayerItem", "GroupItem", "NoteItem"]
