"""DefaultBinder: the Bind plugin that posts ``pods/binding`` through the Client."""

from __future__ import annotations

from typing import Any

from korch import errors
from korch.api import _core_pod, _core_volume, _meta
from korch.scheduler import _framework as fw
from korch.scheduler import _plugins_node, _podinfo

__all__ = ("DefaultBinder",)


class DefaultBinder(_plugins_node.PluginBase):
    """Bind: ``client.bind(Binding(...))`` — the API server sets ``spec.nodeName`` and the
    ``PodScheduled=True`` condition in one write; the pod's uid is a precondition, so a pod
    deleted and re-created under the same name is never bound by mistake."""

    name = "DefaultBinder"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def bind(self, state: fw.CycleState, pod: _podinfo.PodInfo, node_name: str) -> fw.Status:
        if self.client is None:
            return fw.Status.error("DefaultBinder has no client", plugin=self.name)
        meta = pod.pod.metadata
        binding = _core_pod.Binding(
            metadata=_meta.ObjectMeta(name=meta.name, namespace=meta.namespace, uid=meta.uid),
            target=_core_volume.ObjectReference(kind="Node", name=node_name),
        )
        try:
            await self.client.bind(binding, namespace=meta.namespace)
        except errors.APIError as exc:
            return fw.Status.error(f"binding rejected: {exc}", plugin=self.name)
        return fw.SUCCESS
