"""Image data: sources -> :class:`ImageSet`, bad-file checks, splits and manifests, the tf.data pipeline,
class weights.

Importing this package is cheap (no TensorFlow, pandas or scikit-learn): they are imported by the functions that
need them, so ``taxoclass data inspect`` answers quickly.

>>> import numpy as np
>>> from taxoclass.data import ImageSet, split
>>> ds = ImageSet.from_arrays(np.zeros((6, 8, 8), np.uint8), ["a", "a", "a", "b", "b", "b"])
>>> split(ds, val_size=0, test_size=0.34, seed=0).split.value_counts().to_dict()
{'train': 4, 'test': 2}
"""

from taxoclass.data.checks import DEFAULT_MAX_PIXELS, FileCheck, check_file, check_files, pil_decode
from taxoclass.data.imageset import (IMAGE_EXTENSIONS, BadFilesWarning, ImageSet, from_arrays, from_ecotaxa,
                                     from_folder, from_idx, from_table, from_zip, load_source)
from taxoclass.data.split import RareClassWarning, read_manifest, split, write_manifest
from taxoclass.data.augment import random_affine, tta_predict, tta_views
from taxoclass.data.pipeline import fit_to_square, get_preprocessing, load_images, make_dataset, without_autotune
from taxoclass.data.weights import class_weights

__all__ = ["ImageSet", "BadFilesWarning", "RareClassWarning", "FileCheck", "IMAGE_EXTENSIONS", "DEFAULT_MAX_PIXELS",
           "from_folder", "from_table", "from_ecotaxa", "from_arrays", "from_idx", "from_zip", "load_source",
           "check_file", "check_files", "pil_decode", "split", "write_manifest", "read_manifest", "class_weights",
           "make_dataset", "load_images", "random_affine", "get_preprocessing", "fit_to_square", "tta_views",
           "tta_predict", "without_autotune"]
