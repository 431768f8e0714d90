"""Save fitted estimators and networks to a versioned file that needs no pickle, and load them.

The one format in which subclust saves a model. A model file is one ``.npz``
archive: every array (fitted bases, labels, a sparse representation matrix's
``data``/``indices``/``indptr``, a network's weights...) is an entry of the
archive, and a JSON header entry describes the rest:

    {"format": "subclust-model", "format_version": 1, "subclust_version": ...,
     "estimator": {"t": "estimator", "class": "KSubspaces",
                   "params": {...}, "attributes": {...}},
     "metadata": {...}}

Every value in the header is tagged with its type (``none``, ``bool``,
``int``, ``float``, ``str``, ``list``, ``tuple``, ``dict``, ``ndarray``,
``scalar``, ``sparse``, ``random_state``, ``generator``, ``tensor``,
``torch_device``, ``dataclass``, ``estimator``, ``module``), so loading
rebuilds exactly the saved objects. Loading never unpickles and only
instantiates whitelisted classes (:func:`model_classes`: the estimators and
networks exported by subclust, plus scikit-learn's ``Pipeline``,
``Normalizer``, ``StandardScaler``, ``PCA`` and ``TruncatedSVD``), so a
model file from an untrusted source cannot run code. The arrays are stored
bit for bit: a loaded model predicts exactly as the original.

Fitted state is found generically: every instance attribute that is not a
constructor parameter. A public attribute (``bases_``) that cannot be stored
is an error; a private one (``_online_stats``, an internal cache) is dropped
and comes back as None, which subclust estimators treat as "not computed".
Attributes named in ``exclude`` (the N x N ``affinity_matrix_`` that predict
does not need) are dropped the same way. A PyTorch network (a
``torch.nn.Module`` exported by :mod:`subclust.diffusion`, alone or held by
an estimator) is stored as its constructor parameters, read back from the
attributes of the same names as scikit-learn's ``get_params`` does, and its
``state_dict``.

Loading validates what it rebuilds, so that a damaged or edited file fails
there, naming the file, rather than predicting nonsense: the archive must
read back whole (CRC checked), every fitted float array (every weight of a
network) must be finite,
subspace bases (``bases_``) must be orthonormal, and shapes and dtypes must
agree along a pipeline (each step's output is the next one's input, bases
and means live in the features the estimator was fitted on).
"""

import contextlib
import inspect
import json
import numbers
import sys

import numpy as np
import scipy.sparse as sp

from subclust.utils.atomic import write_atomic

__all__ = ["FORMAT_VERSION", "load_model", "model_classes", "save_model"]

#: Version of the model file format written by :func:`save_model`. Bump it on
#: any change that an older reader would misread.
FORMAT_VERSION = 1
_FORMAT = "subclust-model"
_HEADER = "__subclust_model__"
_SPARSE_FIELDS = {
    "csr": ("data", "indices", "indptr"),
    "csc": ("data", "indices", "indptr"),
    "coo": ("data", "row", "col"),
}
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_REMEDY = "re-create it with `subclust cluster` or subclust.io.save_model"
# Largest |U^T U - I| accepted for a loaded basis: rounding of float32 bases is ~1e-6.
_ORTHONORMAL_TOL = 1e-3


def _sklearn_classes():
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    classes = (Pipeline, Normalizer, StandardScaler, PCA, TruncatedSVD)
    return {cls.__name__: cls for cls in classes}


def _is_estimator_class(obj):
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def _is_dataclass_type(obj):
    import dataclasses

    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def _is_module_class(obj):
    """Whether ``obj`` is a ``torch.nn.Module`` subclass, without importing torch."""
    torch = sys.modules.get("torch")
    return isinstance(obj, type) and torch is not None and issubclass(obj, torch.nn.Module)


def _exported(module, predicate):
    """Classes of subclust in the ``__all__`` of ``module`` that satisfy ``predicate``."""
    found = {}
    for name in getattr(module, "__all__", ()):
        obj = vars(module).get(name)
        if predicate(obj) and obj.__module__.startswith("subclust."):
            found[name] = obj
    return found


def _solver_classes(predicate):
    """Whitelisted classes of the layers that need no PyTorch."""
    from subclust import cluster, preprocessing

    return {**_exported(cluster, predicate), **_exported(preprocessing, predicate)}


def _diffusion_classes(predicate):
    """Whitelisted classes of :mod:`subclust.diffusion` (imports PyTorch)."""
    from subclust import diffusion

    return _exported(diffusion, predicate)


def model_classes(include_diffusion=True):
    """The whitelist: every estimator class that model files may name.

    The estimators exported by :mod:`subclust.cluster`,
    :mod:`subclust.preprocessing` and :mod:`subclust.diffusion` (with the
    PyTorch networks of the latter), and scikit-learn's pipeline parts.
    Parameters may also hold the dataclasses exported by those modules (the
    noise schedules of :mod:`subclust.diffusion`), stored field by field.

    Parameters
    ----------
    include_diffusion : bool, default=True
        Also list the classes of :mod:`subclust.diffusion` (imports
        PyTorch; skipped silently when it is not installed).

    Returns
    -------
    classes : dict of str to type
        Class name to class.

    Examples
    --------
    >>> from subclust.io import model_classes
    >>> classes = model_classes(include_diffusion=False)
    >>> "KSubspaces" in classes, "UncenteredPCA" in classes, "Pipeline" in classes
    (True, True, True)
    """
    classes = {**_sklearn_classes(), **_solver_classes(_is_estimator_class)}
    if include_diffusion:
        with contextlib.suppress(ImportError):
            classes.update(_diffusion_classes(_is_saveable_class))
    return classes


def _is_saveable_class(obj):
    return _is_estimator_class(obj) or _is_module_class(obj)


def _lookup(name, kind="estimator"):
    """The whitelisted class called ``name``; diffusion is imported only if needed."""
    if kind == "estimator":
        classes = {**_sklearn_classes(), **_solver_classes(_is_estimator_class)}
        predicate = _is_saveable_class
    else:
        classes = _solver_classes(_is_dataclass_type)
        predicate = _is_dataclass_type
    if name not in classes:
        try:
            classes.update(_diffusion_classes(predicate))
        except ImportError as error:
            raise ImportError(
                f"The model's class {name!r} may come from subclust.diffusion, which needs "
                f"PyTorch: pip install 'subclust[diffusion]' ({error})."
            ) from error
    return classes.get(name)


def _model_class(name):
    return _lookup(name, "estimator")


# Constructor parameters of a network that only shape its construction (the random
# initial weights, where they live): not stored; a loaded network is built on the CPU from
# a fixed seed in the saved dtype, then its weights are loaded.
_BUILD_ONLY = ("random_state", "dtype", "device")


class _Encoder:
    """Turns Python values into JSON-able tagged values and a dict of arrays."""

    def __init__(self, exclude=()):
        self.arrays = {}
        self.exclude = frozenset(exclude)

    def _store(self, array):
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def __call__(self, value, where):
        if value is None:
            return {"t": "none"}
        if isinstance(value, (bool, str)):
            return {"t": type(value).__name__, "v": value}
        if isinstance(value, numbers.Integral) and type(value) is int:
            return {"t": "int", "v": value}
        if type(value) is float:
            return {"t": "float", "v": value}
        if isinstance(value, np.generic):
            return {"t": "scalar", "key": self._store(self._plain_array(np.asarray(value), where))}
        if isinstance(value, np.ndarray):
            return self._ndarray(value, where)
        if sp.issparse(value):
            return self._sparse(value, where)
        if isinstance(value, (list, tuple)):
            items = [self(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return {"t": type(value).__name__ if type(value) in (list, tuple) else "list",
                    "items": items}
        if isinstance(value, dict):
            return {
                "t": "dict",
                "items": [[self(k, f"{where} key"), self(v, f"{where}[{k!r}]")]
                          for k, v in value.items()],
            }
        if isinstance(value, np.random.RandomState):
            return {"t": "random_state", "state": self(list(value.get_state()), where)}
        if isinstance(value, np.random.Generator):
            name = type(value.bit_generator).__name__
            if name not in _BIT_GENERATORS:
                raise ValueError(f"{where}: cannot save a Generator over {name}.")
            return {"t": "generator", "state": self(value.bit_generator.state, where)}
        if _is_torch(value, "device"):
            return {"t": "torch_device", "v": str(value)}
        if _is_dataclass_type(type(value)):
            return self._dataclass(value, where)
        if _is_torch(value, "Tensor"):
            array = value.detach().cpu().numpy()
            return {"t": "tensor", "key": self._store(self._plain_array(array, where)),
                    "requires_grad": bool(value.requires_grad)}
        from sklearn.base import BaseEstimator

        if isinstance(value, BaseEstimator):
            return self.estimator(value, where)
        if _is_module_class(type(value)):
            return self.module(value, where)
        raise ValueError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot be "
            "saved without pickle (arrays, sparse matrices, numbers, strings, lists, dicts "
            "and subclust estimators can)."
        )

    def _dataclass(self, value, where):
        import dataclasses

        cls = type(value)
        if _lookup(cls.__name__, "dataclass") is not cls:
            raise ValueError(
                f"{where} is a {cls.__module__}.{cls.__qualname__}, a dataclass that subclust "
                "does not export, which cannot be saved without pickle."
            )
        fields = {
            f.name: self(getattr(value, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(value) if f.init
        }
        return {"t": "dataclass", "class": cls.__name__, "fields": fields}

    def _plain_array(self, array, where):
        if array.dtype.kind == "O" or array.dtype.names is not None:
            raise ValueError(
                f"{where} is an array of Python objects ({array.dtype}), which cannot be saved "
                "without pickle."
            )
        return array

    def _ndarray(self, array, where):
        array = np.asarray(array)  # a memmap is saved as its values
        if array.dtype.kind == "O":
            # Strings stored as objects (feature_names_in_) round-trip as unicode.
            if all(isinstance(item, str) for item in array.flat):
                return {"t": "ndarray", "key": self._store(array.astype(str)), "object": True}
        return {"t": "ndarray", "key": self._store(self._plain_array(array, where))}

    def _sparse(self, matrix, where):
        fmt = matrix.format if matrix.format in _SPARSE_FIELDS else "csr"
        converted = matrix.asformat(fmt)
        return {
            "t": "sparse",
            "format": fmt,
            "original_format": matrix.format,
            "array": isinstance(matrix, sp.sparray),
            "shape": [int(n) for n in matrix.shape],
            "fields": {
                name: self._store(self._plain_array(getattr(converted, name), where))
                for name in _SPARSE_FIELDS[fmt]
            },
        }

    def _check_whitelisted(self, cls, where):
        if _model_class(cls.__name__) is not cls:
            raise ValueError(
                f"{where} is a {cls.__module__}.{cls.__qualname__}, not one of the estimators "
                "a model file may hold: those exported by subclust and scikit-learn's "
                f"{', '.join(sorted(_sklearn_classes()))} (see subclust.io.model_classes())."
            )

    def module(self, module, where):
        """A PyTorch network: its constructor parameters and its weights."""
        cls = type(module)
        self._check_whitelisted(cls, where)
        params = {}
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or name in _BUILD_ONLY or parameter.kind in (
                parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD
            ):
                continue
            if not hasattr(module, name):
                raise ValueError(
                    f"{where} cannot be saved: its constructor parameter {name!r} is not kept "
                    "as an attribute of the same name, so the network could not be rebuilt."
                )
            params[name] = self(getattr(module, name), f"{cls.__name__}.{name}")
        state = module.state_dict()
        floating = [t.dtype for t in state.values() if t.is_floating_point()]
        return {"t": "module", "class": cls.__name__, "params": params,
                "dtype": str(floating[0]).removeprefix("torch.") if floating else None,
                "training": bool(module.training),
                "state": self(dict(state), f"{cls.__name__} weights")}

    def estimator(self, estimator, where):
        cls = type(estimator)
        self._check_whitelisted(cls, where)
        params = estimator.get_params(deep=False)
        encoded_params = {k: self(v, f"{cls.__name__}.{k}") for k, v in params.items()}
        attributes, dropped = {}, []
        for name, value in vars(estimator).items():
            if name in params:
                continue
            if name in self.exclude:
                dropped.append(name)
                continue
            try:
                attributes[name] = self(value, f"{cls.__name__}.{name}")
            except ValueError:
                if not name.startswith("_"):
                    raise
                dropped.append(name)  # internal caches: restored as None
        return {"t": "estimator", "class": cls.__name__, "params": encoded_params,
                "attributes": attributes, "dropped": dropped}


def _is_torch(value, name):
    """Whether ``value`` is a ``torch.<name>``, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, getattr(torch, name))


class _Decoder:
    """Rebuilds values from tagged JSON and the arrays of the archive."""

    def __init__(self, arrays, source):
        self.arrays = arrays
        self.source = source

    def _corrupt(self, what):
        return ValueError(f"{self.source} is damaged or not a subclust model: {what}.")

    def _array(self, key):
        if key not in self.arrays:
            raise self._corrupt(f"array {key!r} is missing")
        return self.arrays[key]

    def __call__(self, node):
        if not isinstance(node, dict) or "t" not in node:
            raise self._corrupt(f"unexpected value {node!r:.60}")
        kind = node["t"]
        if kind == "none":
            return None
        if kind in ("bool", "int", "float", "str"):
            value = node["v"]
            expected = {"bool": bool, "int": int, "float": float, "str": str}[kind]
            if kind == "float" and type(value) is int:
                value = float(value)
            if type(value) is not expected:
                raise self._corrupt(f"{value!r:.60} is not a {kind}")
            return value
        if kind == "scalar":
            return self._array(node["key"])[()]
        if kind == "ndarray":
            array = self._array(node["key"])
            return array.astype(object) if node.get("object") else array
        if kind in ("list", "tuple"):
            items = [self(item) for item in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {self(k): self(v) for k, v in node["items"]}
        if kind == "sparse":
            return self._sparse(node)
        if kind == "random_state":
            state = np.random.RandomState()
            state.set_state(tuple(self(node["state"])))
            return state
        if kind == "generator":
            state = self(node["state"])
            name = state.get("bit_generator") if isinstance(state, dict) else None
            if name not in _BIT_GENERATORS:
                raise self._corrupt(f"unknown bit generator {name!r}")
            bit_generator = getattr(np.random, name)()
            bit_generator.state = state
            return np.random.Generator(bit_generator)
        if kind == "tensor":
            import torch

            tensor = torch.from_numpy(np.array(self._array(node["key"])))
            return tensor.requires_grad_(bool(node.get("requires_grad", False)))
        if kind == "estimator":
            return self.estimator(node)
        if kind == "module":
            return self.module(node)
        if kind == "dataclass":
            name = node.get("class")
            cls = _lookup(name, "dataclass") if isinstance(name, str) else None
            if cls is None:
                raise ValueError(
                    f"{self.source} names the class {name!r}, which is not a "
                    "dataclass exported by subclust, so it is refused."
                )
            return cls(**{k: self(v) for k, v in node["fields"].items()})
        if kind == "torch_device":
            import torch

            return torch.device(node["v"])
        raise self._corrupt(f"unknown value type {kind!r}")

    def _sparse(self, node):
        fmt = node["format"]
        if fmt not in _SPARSE_FIELDS:
            raise self._corrupt(f"unknown sparse format {fmt!r}")
        fields = [self._array(node["fields"][name]) for name in _SPARSE_FIELDS[fmt]]
        shape = tuple(node["shape"])
        array_api = node.get("array", False)
        constructor = getattr(sp, f"{fmt}_{'array' if array_api else 'matrix'}")
        if fmt == "coo":
            data, row, col = fields
            matrix = constructor((data, (row, col)), shape=shape)
        else:
            matrix = constructor(tuple(fields), shape=shape)
        return matrix.asformat(node.get("original_format", fmt))

    def _class(self, node):
        name = node.get("class")
        cls = _model_class(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(
                f"{self.source} names the class {name!r}, which is not a subclust estimator; "
                "model files may only hold the classes listed by subclust.io.model_classes(), "
                "so it is refused."
            )
        return cls

    def module(self, node):
        import torch

        cls = self._class(node)
        params = {k: self(v) for k, v in node.get("params", {}).items()}
        accepted = inspect.signature(cls.__init__).parameters
        if "random_state" in accepted:
            params["random_state"] = 0  # any: every weight is loaded below
        if "dtype" in accepted and node.get("dtype") is not None:
            dtype = getattr(torch, str(node["dtype"]), None)
            if not isinstance(dtype, torch.dtype):
                raise self._corrupt(f"unknown dtype {node['dtype']!r}")
            params["dtype"] = dtype
        try:
            module = cls(**params)
        except (TypeError, ValueError) as error:
            raise self._corrupt(f"{cls.__name__} does not accept the saved parameters "
                                f"({error})") from None
        try:
            module.load_state_dict(self(node["state"]))
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise self._corrupt(f"{cls.__name__} does not accept the saved weights ({first})")
        return module.train(bool(node.get("training", False)))

    def estimator(self, node):
        cls = self._class(node)
        name = cls.__name__
        params = {k: self(v) for k, v in node.get("params", {}).items()}
        try:
            estimator = cls(**params)
        except TypeError as error:
            raise self._corrupt(f"{name} does not accept the saved parameters ({error})") from None
        for attribute, value in node.get("attributes", {}).items():
            if not attribute.isidentifier() or attribute.startswith("__"):
                raise self._corrupt(f"invalid attribute name {attribute!r}")
            setattr(estimator, attribute, self(value))
        for attribute in node.get("dropped", []):
            if attribute.isidentifier() and not attribute.startswith("__"):
                setattr(estimator, attribute, None)
        return estimator


def save_model(estimator, path, *, metadata=None, force=False, exclude=()):
    """Save a fitted estimator, or a network, to a model file that needs no pickle.

    Works for every subclust estimator and for scikit-learn pipelines of
    them (see :func:`model_classes`), whatever its fitted attributes:
    arrays, lists of arrays (``bases_``), sparse matrices, numbers, strings,
    None, random states, PyTorch tensors and networks; and for the networks
    of :mod:`subclust.diffusion` themselves. The file is written atomically
    (:func:`write_atomic`).

    Parameters
    ----------
    estimator : estimator or torch.nn.Module
        A fitted estimator, or a network exported by :mod:`subclust.diffusion`.
    path : str or path-like
        The file to write (an ``.npz`` archive, whatever the extension).
    metadata : dict, optional
        JSON-serializable information stored beside the model (how its input
        was made, for example); returned by ``load_model(...,
        return_metadata=True)``.
    force : bool, default=False
        Overwrite an existing file.
    exclude : iterable of str, default=()
        Fitted attributes not to store, in the estimator and in every
        estimator it holds (pipeline steps); they load back as None. For
        example ``("affinity_matrix_", "representation_matrix_")``: the
        N x N matrices of the self-expressive methods, which ``predict`` does
        not need and which make a file grow with the square of the number of
        samples.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        The estimator is not fitted, not a whitelisted class, or holds a
        public attribute that cannot be stored without pickle.

    Examples
    --------
    A pipeline, without the N x N affinity that ``predict`` does not need:

    >>> import os, tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from subclust.cluster import LeastSquaresSubspaceClustering
    >>> from subclust.datasets import make_molrg
    >>> from subclust.io import load_model, save_model
    >>> from subclust.preprocessing import UncenteredPCA
    >>> X, _, _ = make_molrg(n_samples=[20, 20], n_features=8, dims=2, random_state=0)
    >>> lsr = LeastSquaresSubspaceClustering(n_clusters=2, random_state=0)
    >>> model = make_pipeline(UncenteredPCA(n_components=4), lsr).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_model(model, os.path.join(folder, "lsr.npz"), exclude=["affinity_matrix_"])
    ...     loaded = load_model(path)
    >>> loaded[-1].affinity_matrix_ is None, bool((loaded.predict(X) == model.predict(X)).all())
    (True, True)
    """
    encoder = _Encoder(exclude)
    if _is_module_class(type(estimator)):
        tree = encoder.module(estimator, type(estimator).__name__)
    else:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        tree = encoder.estimator(estimator, type(estimator).__name__)
    header = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "subclust_version": _subclust_version(),
        "estimator": tree,
        "metadata": {} if metadata is None else metadata,
    }
    try:
        text = json.dumps(header)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata must be JSON-serializable: {error}") from None
    arrays = {_HEADER: np.array(text), **encoder.arrays}
    return write_atomic(path, lambda f: np.savez(f, **arrays), force=force)


def _subclust_version():
    from subclust import __version__

    return __version__


def _read_header(path):
    from subclust.io._readers import _existing_file, _npz_arrays

    path = _existing_file(path, "model file")
    try:
        arrays = _npz_arrays(path, remedy=_REMEDY)
    except ValueError as error:
        if "pickle" in str(error) or "corrupted" in str(error):
            raise
        raise ValueError(
            f"{path} is not a subclust model file (not an .npz archive); models are written "
            "by `subclust cluster` or subclust.io.save_model."
        ) from None
    if _HEADER not in arrays:
        raise ValueError(
            f"{path} is not a subclust model file (no {_HEADER!r} entry); models are written "
            "by `subclust cluster` or subclust.io.save_model."
        )
    try:
        header = json.loads(str(arrays.pop(_HEADER)))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} has a damaged header: {error}.") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a subclust model file (format {header.get('format')!r}).")
    version = header.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version!r}, but subclust {_subclust_version()} "
            f"reads version {FORMAT_VERSION} only; load it with the subclust version that "
            f"saved it ({header.get('subclust_version', 'unknown')}) or a newer one."
        )
    return path, header, arrays


def load_model(path, *, return_metadata=False):
    """Load an estimator saved by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
    return_metadata : bool, default=False
        Also return the metadata stored with the model.

    Returns
    -------
    estimator : estimator
        The fitted estimator, predicting exactly as the saved one.
    metadata : dict
        Only with ``return_metadata=True``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a model file, a format version this subclust cannot read, a
        class outside :func:`model_classes`, pickled data, or damage: a
        truncated or corrupted archive, NaN or infinity in a fitted array,
        bases that are not orthonormal, shapes or dtypes that disagree.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from subclust import KSubspaces
    >>> from subclust.datasets import make_molrg
    >>> from subclust.io import load_model, save_model
    >>> X, y, _ = make_molrg(n_samples=[20, 20], n_features=6, dims=2, random_state=0)
    >>> model = KSubspaces(n_clusters=2, dims=2, random_state=0).fit(X)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = save_model(model, Path(tmp.name) / "kss.npz", metadata={"source": "molrg"})
    >>> loaded, metadata = load_model(path, return_metadata=True)
    >>> loaded, metadata
    (KSubspaces(dims=2, n_clusters=2, random_state=0), {'source': 'molrg'})
    >>> all(np.array_equal(U, V) for U, V in zip(loaded.bases_, model.bases_))  # bit for bit
    True
    >>> bool(np.array_equal(loaded.predict(X), model.predict(X)))
    True
    >>> tmp.cleanup()
    """
    path, header, arrays = _read_header(path)
    decoder = _Decoder(arrays, path)
    try:
        estimator = decoder(header.get("estimator"))
    except (KeyError, TypeError, IndexError, AttributeError) as error:
        # A header edited by hand, or for another format version.
        raise ValueError(f"{path} has a damaged header ({error!r}); {_REMEDY}.") from None
    _validate_model(estimator, path)
    if return_metadata:
        return estimator, header.get("metadata", {})
    return estimator


def _validate_model(estimator, path):
    """Check a loaded estimator (or pipeline) for values and shapes that predict cannot use."""
    from sklearn.pipeline import Pipeline

    def damaged(what):
        return ValueError(f"{path} is damaged: {what}; {_REMEDY}.")

    if _is_module_class(type(estimator)):
        for name, tensor in estimator.state_dict().items():
            if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
                raise damaged(f"{type(estimator).__name__} weight {name!r} holds NaN or infinity")
        return

    steps = estimator.steps if isinstance(estimator, Pipeline) else [("", estimator)]
    n_features = None  # what the previous step outputs
    for name, step in steps:
        where = type(step).__name__ + (f" (step {name!r})" if name else "")
        for attribute, value in vars(step).items():
            if attribute.endswith("_") and not attribute.startswith("_"):
                for array in _fitted_arrays(value):
                    if array.dtype.kind in "fc" and not np.isfinite(array).all():
                        raise damaged(f"{where}.{attribute} holds NaN or infinity")
        n_in = getattr(step, "n_features_in_", None)
        if n_in is None:
            n_features = None
            continue
        n_in = int(n_in)
        if n_features is not None and n_in != n_features:
            raise damaged(f"{where} takes {n_in} features but the step before gives {n_features}")
        components = getattr(step, "components_", None)
        if isinstance(components, np.ndarray):
            if components.ndim != 2 or components.shape[1] != n_in:
                raise damaged(
                    f"{where}.components_ has shape {components.shape}, expected (k, {n_in})"
                )
            n_features = components.shape[0]
        else:
            n_features = n_in
        _validate_bases(step, n_in, where, damaged)


def _fitted_arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif sp.issparse(value):
        yield value.data
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _fitted_arrays(item)


def _validate_bases(step, n_features, where, damaged):
    bases = getattr(step, "bases_", None)
    if bases is None:
        return
    dtypes = set()
    for k, U in enumerate(bases):
        if not isinstance(U, np.ndarray) or U.ndim != 2 or U.shape[0] != n_features:
            shape = getattr(U, "shape", type(U).__name__)
            raise damaged(f"{where}.bases_[{k}] has shape {shape}, expected ({n_features}, d)")
        if U.dtype.kind != "f":
            raise damaged(f"{where}.bases_[{k}] has dtype {U.dtype}, expected floats")
        gram = U.T.astype(np.float64) @ U.astype(np.float64)
        error = np.abs(gram - np.eye(U.shape[1])).max(initial=0.0)
        if error > _ORTHONORMAL_TOL:
            raise damaged(
                f"{where}.bases_[{k}] is not orthonormal (|U^T U - I| = {error:.2g})"
            )
        dtypes.add(U.dtype)
    if len(dtypes) > 1:
        raise damaged(f"{where}.bases_ mix dtypes {sorted(map(str, dtypes))}")
    means = getattr(step, "means_", None)
    if means is not None:
        means = np.asarray(means)
        if means.shape != (len(bases), n_features):
            raise damaged(
                f"{where}.means_ has shape {means.shape}, expected ({len(bases)}, {n_features})"
            )
        if dtypes and means.dtype not in dtypes:
            raise damaged(f"{where}.means_ is {means.dtype} but its bases are {dtypes.pop()}")
