"""Every public function validates its parameters at the edge.

The functions are those in the ``__all__`` of the layers below the command
line, the diffusion layer included where PyTorch is installed: for each,
every parameter has a constraint, and a value of the wrong type or outside
the accepted range raises scikit-learn's ``InvalidParameterError`` naming
the parameter and the function, before any work is done.
"""

import importlib
import inspect
import pkgutil
import re

import numpy as np
import pytest
from sklearn.utils._param_validation import (
    generate_invalid_param_val,
    generate_valid_param,
    make_constraint,
)

import subclust
from subclust.cluster import k_subspaces
from subclust.utils.validation import InvalidParameterError

PACKAGES = ["subspace", "metrics", "preprocessing", "cluster", "datasets", "bridge", "experiments"]
try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover
    HAS_TORCH = False
else:
    HAS_TORCH = True
    PACKAGES.append("diffusion")


def _modules():
    for name in PACKAGES:
        module = importlib.import_module(f"subclust.{name}")
        yield module
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            yield importlib.import_module(f"{module.__name__}.{info.name}")


def _public_functions():
    found = {}
    for module in _modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("subclust."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return sorted(found.items())




def _parameters(func):
    return [p for p in inspect.signature(func).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


FUNCTIONS = _public_functions()
WITH_PARAMETERS = [(name, func) for name, func in FUNCTIONS if _parameters(func)]


def _valid_value(constraints):
    """A value that satisfies one of ``constraints``."""
    for constraint in constraints:
        try:
            value = generate_valid_param(make_constraint(constraint))
        except (ValueError, TypeError):
            continue
        if make_constraint(constraint).is_satisfied_by(value):
            return value
    raise AssertionError(f"no valid value for {constraints}")  # pragma: no cover


def test_the_walk_finds_the_public_functions():
    names = {name.rsplit(".", 1)[1] for name, _ in FUNCTIONS}
    assert {"k_subspaces", "subspace_distance", "clustering_accuracy", "make_molrg",
            "jacobian_basis", "phase_transition", "sparse_self_representation"} <= names
    assert len(FUNCTIONS) > 80


@pytest.mark.skipif(not HAS_TORCH, reason="the diffusion layer needs PyTorch")
def test_the_walk_finds_the_diffusion_functions():
    names = {name.rsplit(".", 1)[1] for name, _ in FUNCTIONS}
    assert {"dsm_loss", "dsm_loss_estimate", "train_denoiser", "sample", "sample_heun",
            "karras_times", "uniform_times", "molrg_denoise", "sample_quality",
            "mixture_from_clustering", "as_generator"} <= names


@pytest.mark.parametrize("name, func", WITH_PARAMETERS, ids=[n for n, _ in WITH_PARAMETERS])
def test_every_parameter_has_a_constraint(name, func):
    constraints = getattr(func, "_skl_parameter_constraints", None)
    assert constraints is not None, f"{name} is not decorated with validate_params"
    missing = [p.name for p in _parameters(func) if p.name not in constraints]
    assert not missing, f"{name} has no constraint for {missing}"


@pytest.mark.parametrize("name, func", WITH_PARAMETERS, ids=[n for n, _ in WITH_PARAMETERS])
def test_bad_parameters_raise_invalid_parameter_error(name, func):
    constraints = func._skl_parameter_constraints
    required = {p.name: (None if constraints[p.name] == "no_validation"
                         else _valid_value(constraints[p.name]))
                for p in _parameters(func) if p.default is p.empty}
    for param in _parameters(func):
        if constraints[param.name] == "no_validation":
            continue
        match = f"The '{param.name}' parameter of {func.__qualname__} must be"
        bad_type = type("BadType", (), {})()
        with pytest.raises(InvalidParameterError, match=re.escape(match)):
            func(**{**required, param.name: bad_type})
        accepted = [make_constraint(c) for c in constraints[param.name]]
        for constraint in accepted:
            try:
                bad_value = generate_invalid_param_val(constraint)
            except NotImplementedError:
                continue
            if any(c.is_satisfied_by(bad_value) for c in accepted):
                continue
            with pytest.raises(InvalidParameterError, match=re.escape(match)):
                func(**{**required, param.name: bad_value})


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((20, 5))


@pytest.mark.parametrize("params, message", [
    (dict(n_init=0), "The 'n_init' parameter of k_subspaces must be an int in the range "
                     "[1, inf). Got 0 instead."),
    (dict(max_iter=0), "The 'max_iter' parameter of k_subspaces must be an int in the range "
                       "[1, inf). Got 0 instead."),
    (dict(init="foo"), "The 'init' parameter of k_subspaces must be a str among"),
])
def test_k_subspaces_rejects_bad_parameters(X, params, message):
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        k_subspaces(X, 2, 1, **params)


def test_the_estimator_reports_its_own_name(X):
    with pytest.raises(InvalidParameterError, match="'n_init' parameter of KSubspaces"):
        subclust.KSubspaces(2, dims=1, n_init=0).fit(X)


def test_nested_calls_are_not_validated_twice(X, monkeypatch):
    """A public function that calls another validates its parameters once, at the edge."""
    import subclust.utils.validation as validation
    from sklearn.utils import _param_validation

    calls = []
    original = _param_validation.validate_parameter_constraints

    def counting(constraints, params, caller_name):
        calls.append(caller_name)
        return original(constraints, params, caller_name)

    monkeypatch.setattr(_param_validation, "validate_parameter_constraints", counting)
    from subclust.cluster import ensemble_k_subspaces

    ensemble_k_subspaces(X, 2, 1, n_estimators=3, random_state=0)
    assert calls == ["ensemble_k_subspaces"]  # not the k_subspaces runs it makes
    assert validation.validate_params is _param_validation.validate_params


def test_only_the_validation_module_imports_sklearn_private_validation():
    from pathlib import Path

    root = Path(subclust.__file__).parent
    importers = sorted(
        str(path.relative_to(root)) for path in root.rglob("*.py")
        if "sklearn.utils._param_validation" in path.read_text()
    )
    assert importers == ["utils/validation.py"]
