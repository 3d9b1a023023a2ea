"""Plugin registry, kube-scheduler's default profile, and third-party plugins.

Plugins are built by name from a factory ``factory(args: dict, handle: Handle) -> plugin``.
The in-tree factories are registered here; third-party packages add theirs through the
entry-point group ``korch.scheduler.plugins`` (the entry point's name is the plugin name,
its object the factory)::

    # pyproject.toml of a plugin package
    [project.entry-points."korch.scheduler.plugins"]
    GpuPreference = "my_package.plugins:make_gpu_preference"

:func:`build_profile` is the ``KubeSchedulerConfiguration`` way to describe a profile: the
defaults, minus ``disabled`` plugins, plus ``enabled`` ones, with ``weights`` and per-plugin
``args``. :func:`default_profile` is kube-scheduler's default plugin set with its default
score weights (TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2,
NodeResourcesFit 1, NodeResourcesBalancedAllocation 1, ImageLocality 1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any, Protocol

import attrs

from korch import errors
from korch.clock import Clock
from korch.scheduler import (
    _cache,
    _plugins_affinity,
    _plugins_node,
    _plugins_resources,
    _plugins_spread,
    _profile,
)

__all__ = (
    "DEFAULT_WEIGHTS",
    "ENTRY_POINT_GROUP",
    "Handle",
    "PluginFactory",
    "build_profile",
    "default_profile",
    "plugin_factories",
    "register_plugin",
)

ENTRY_POINT_GROUP = "korch.scheduler.plugins"

DEFAULT_PLUGINS = (
    "SchedulingGates",
    "PrioritySort",
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "VolumeBinding",
    "VolumeZone",
    "PodTopologySpread",
    "InterPodAffinity",
    "DefaultPreemption",
    "NodeResourcesBalancedAllocation",
    "ImageLocality",
    "DefaultBinder",
)
DEFAULT_WEIGHTS = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesFit": 1,
    "NodeResourcesBalancedAllocation": 1,
    "ImageLocality": 1,
}


@attrs.define
class Handle:
    """What factories may use: the scheduler's client (``None`` offline), cache and clock."""

    client: Any = None
    cache: _cache.Cache = attrs.Factory(_cache.Cache)
    clock: Clock | None = None
    extra: dict[str, Any] = attrs.Factory(dict)


class PluginFactory(Protocol):
    def __call__(self, args: Mapping[str, Any], handle: Handle) -> Any: ...


def _no_args(cls: Callable[[], Any]) -> PluginFactory:
    def factory(args: Mapping[str, Any], handle: Handle) -> Any:
        return cls(**args)

    return factory


def _binder(args: Mapping[str, Any], handle: Handle) -> Any:
    from korch.scheduler import _binding

    return _binding.DefaultBinder(handle.client, **args)


def _preemption(args: Mapping[str, Any], handle: Handle) -> Any:
    from korch.scheduler import _preemption

    return _preemption.DefaultPreemption(handle, **args)


def _coscheduling(args: Mapping[str, Any], handle: Handle) -> Any:
    from korch.scheduler import _coscheduling

    return _coscheduling.Coscheduling(handle, **args)


def _volume(name: str) -> PluginFactory:
    def factory(args: Mapping[str, Any], handle: Handle) -> Any:
        from korch.scheduler import _plugins_volume

        return getattr(_plugins_volume, name)(handle, **args)

    return factory


def _spread(args: Mapping[str, Any], handle: Handle) -> Any:
    args = dict(args)
    args.setdefault("default_selector", handle.extra.get("default_selector"))
    return _plugins_spread.PodTopologySpread(**args)


_IN_TREE: dict[str, PluginFactory] = {
    "SchedulingGates": _no_args(_plugins_node.SchedulingGates),
    "PrioritySort": _no_args(_plugins_node.PrioritySort),
    "NodeUnschedulable": _no_args(_plugins_node.NodeUnschedulable),
    "NodeName": _no_args(_plugins_node.NodeName),
    "TaintToleration": _no_args(_plugins_node.TaintToleration),
    "NodeAffinity": _no_args(_plugins_node.NodeAffinity),
    "NodePorts": _no_args(_plugins_node.NodePorts),
    "NodeResourcesFit": _no_args(_plugins_resources.NodeResourcesFit),
    "NodeResourcesBalancedAllocation": _no_args(_plugins_resources.NodeResourcesBalancedAllocation),
    "PodTopologySpread": _spread,
    "InterPodAffinity": _no_args(_plugins_affinity.InterPodAffinity),
    "ImageLocality": _no_args(_plugins_node.ImageLocality),
    "DefaultBinder": _binder,
    "DefaultPreemption": _preemption,
    "VolumeBinding": _volume("VolumeBinding"),
    "VolumeZone": _volume("VolumeZone"),
    "Coscheduling": _coscheduling,
}
_REGISTERED: dict[str, PluginFactory] = {}


def register_plugin(name: str, factory: PluginFactory) -> None:
    """Make ``name`` buildable in profiles (in-process alternative to an entry point)."""
    _REGISTERED[name] = factory


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, PluginFactory]:
    found: dict[str, PluginFactory] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = _lazy(entry)
    return found


def _lazy(entry: metadata.EntryPoint) -> PluginFactory:
    def factory(args: Mapping[str, Any], handle: Handle) -> Any:
        try:
            loaded = entry.load()
        except (ImportError, AttributeError) as exc:
            raise errors.BadRequest(
                f"scheduler plugin {entry.name!r} ({entry.value}) cannot be loaded: {exc}"
            ) from exc
        return loaded(args, handle)

    return factory


def plugin_factories() -> dict[str, PluginFactory]:
    """Every known factory: in-tree, then entry points, then :func:`register_plugin`."""
    return {**_IN_TREE, **_entry_points(), **_REGISTERED}


def build_profile(
    scheduler_name: str = _profile.DEFAULT_SCHEDULER_NAME,
    *,
    enabled: Sequence[str] = (),
    disabled: Sequence[str] = (),
    weights: Mapping[str, int] | None = None,
    args: Mapping[str, Mapping[str, Any]] | None = None,
    handle: Handle | None = None,
    percentage_of_nodes_to_score: int = 100,
) -> _profile.Profile:
    """The default plugins minus ``disabled`` (``"*"`` disables all) plus ``enabled``.

    Raises:
        korch.errors.BadRequest: an unknown plugin name, or bad plugin args.
    """
    factories = plugin_factories()
    names = [] if "*" in disabled else [n for n in DEFAULT_PLUGINS if n not in disabled]
    names += [n for n in enabled if n not in names]
    unknown = sorted(n for n in names if n not in factories)
    if unknown:
        raise errors.BadRequest(f"unknown scheduler plugins {unknown}; known: {sorted(factories)}")
    handle = handle or Handle()
    plugins = []
    for name in names:
        try:
            plugins.append(factories[name]((args or {}).get(name, {}), handle))
        except TypeError as exc:
            raise errors.BadRequest(f"invalid args for scheduler plugin {name!r}: {exc}") from exc
    return _profile.Profile(
        plugins,
        scheduler_name=scheduler_name,
        weights={**DEFAULT_WEIGHTS, **(weights or {})},
        percentage_of_nodes_to_score=percentage_of_nodes_to_score,
    )


def default_profile(
    scheduler_name: str = _profile.DEFAULT_SCHEDULER_NAME, *, handle: Handle | None = None
) -> _profile.Profile:
    """kube-scheduler's default profile (see the module docstring)."""
    return build_profile(scheduler_name, handle=handle)
