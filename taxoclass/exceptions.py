"""Exceptions raised by taxoclass.

Every error a user can cause derives from :class:`TaxoclassError`. The CLI turns these into a one-line message
and exit status 2; each message says what was wrong, what was expected and how to fix it.
"""


class TaxoclassError(Exception):
    """Base class of every error caused by bad user input."""


class TaxonomyError(TaxoclassError, ValueError):
    """A taxonomy file or tree is malformed (cycle, two parents, duplicate names, bad line...)."""


class ClassMismatchError(TaxonomyError):
    """Classes in the data and classes in the taxonomy differ."""


class ClusteringError(TaxoclassError, ValueError):
    """A confusion matrix or clustering option is invalid."""


class DataError(TaxoclassError, ValueError):
    """An image source cannot be read or a label table is inconsistent."""


class ModelError(TaxoclassError, ValueError):
    """A model option, artefact or input does not fit."""
