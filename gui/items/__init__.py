"""Canvas items: they draw the graph and never edit it."""

from .edge import EdgeBundleItem, EdgeItem
from .group import GroupItem
from .node import NodeItem
from .note import NoteItem

__all__ = ["NodeItem", "EdgeItem", "EdgeBundleItem", "GroupItem", "NoteItem"]
