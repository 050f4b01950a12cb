"""taxoclass: hierarchical (taxonomy-based) image classification.

Importing ``taxoclass`` is cheap: TensorFlow is imported only when a model is built or loaded.
"""

from taxoclass.exceptions import (ClassMismatchError, ClusteringError, DataError, ModelError, TaxoclassError,
                                  TaxonomyError)
from taxoclass.taxonomy import Taxonomy

__version__ = "0.1.0"

__all__ = ["Taxonomy", "TaxoclassError", "TaxonomyError", "ClassMismatchError", "ClusteringError", "DataError",
           "ModelError", "__version__"]
