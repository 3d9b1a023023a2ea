"""Every public façade lists exactly its public names in a tuple ``__all__``."""

from __future__ import annotations

import importlib

import pytest

FACADES = [
    "korch",
    "korch.api",
    "korch.apiserver",
    "korch.client",
    "korch.store",
    "korch.testing",
    "korch.errors",
    "korch.clock",
    "korch.controllers",
    "korch.workloads",
    "korch.scheduler",
    "korch.runtime",
    "korch.node",
    "korch.security",
    "korch.cluster",
]


@pytest.mark.parametrize("name", FACADES)
def test_all_is_a_complete_tuple(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert len(set(exported)) == len(exported)
    for member in exported:
        assert getattr(module, member) is not None, member
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_")
        and getattr(value, "__module__", "").startswith(name)
        and not isinstance(value, type(importlib))
    }
    assert public <= set(exported), f"public but not in __all__: {public - set(exported)}"
