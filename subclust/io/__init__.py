"""Input and output: embeddings and images from files, saved models, atomic writes.

- :func:`read_embeddings` reads ``.npy``, ``.npz`` and PyTorch ``.pt`` (never
  unpickling objects), delimited text (``.csv``, ``.tsv``, ``.txt``),
  ``.parquet``, MATLAB ``.mat`` and HDF5 files; :func:`read_labels` reads ground truth;
  :func:`read_image_folder` turns a folder of images (PNG, JPEG, PGM...) into
  scattering-transform features.
- :func:`save_model` / :func:`load_model` store a fitted estimator as arrays
  in an ``.npz`` archive and its parameters in JSON, in a versioned format
  that loads without unpickling anything.
- :func:`write_atomic` writes a file through a temporary file and a rename,
  never overwriting unless asked; :func:`atomic_directory` does the same for
  a whole directory (written whole or not at all), and
  :func:`discard_temporaries` undoes the writes in progress before a hard exit;
  :func:`write_text` and :func:`save_figure` write text and PNG figures with it.
  Every file subclust writes goes through them (they live in
  :mod:`subclust.utils.atomic`, below every layer).
"""

from subclust.io._models import FORMAT_VERSION, load_model, model_classes, save_model
from subclust.io._readers import (
    EMBEDDING_FORMATS,
    IMAGE_EXTENSIONS,
    IMAGE_FEATURES,
    check_embeddings,
    image_feature_params,
    image_features,
    read_embeddings,
    read_image_folder,
    read_images,
    read_labels,
)
from subclust.utils.atomic import (
    atomic_directory,
    discard_temporaries,
    save_figure,
    write_atomic,
    write_text,
)

__all__ = [
    "EMBEDDING_FORMATS",
    "FORMAT_VERSION",
    "IMAGE_EXTENSIONS",
    "IMAGE_FEATURES",
    "atomic_directory",
    "check_embeddings",
    "discard_temporaries",
    "image_feature_params",
    "image_features",
    "load_model",
    "model_classes",
    "read_embeddings",
    "read_image_folder",
    "read_images",
    "read_labels",
    "save_figure",
    "save_model",
    "write_atomic",
    "write_text",
]
