"""Taxonomies: the tree (:class:`Taxonomy`), its readers and writers, queries and validation."""

from taxoclass.taxonomy.tree import ARTIFICIAL_ROOT, Node, Taxonomy

__all__ = ["Taxonomy", "Node", "ARTIFICIAL_ROOT"]
