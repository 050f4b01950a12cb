"""Taxonomies: the tree (:class:`Taxonomy`), its readers and writers, queries and validation.

>>> from taxoclass.taxonomy import load_taxonomy, save_taxonomy, loads_taxonomy, dumps_taxonomy, read_classes
"""

from taxoclass.taxonomy.io import (FORMATS, WRITE_FORMATS, dumps_taxonomy, format_from_path, load_taxonomy,
                                   loads_taxonomy, read_classes, save_taxonomy)
from taxoclass.taxonomy.tree import ARTIFICIAL_ROOT, Node, Taxonomy

__all__ = ["Taxonomy", "Node", "ARTIFICIAL_ROOT", "load_taxonomy", "loads_taxonomy", "save_taxonomy",
           "dumps_taxonomy", "read_classes", "format_from_path", "FORMATS", "WRITE_FORMATS"]
