"""korch.client — how components talk to a cluster: the :class:`Client` protocol.

Everything above the API server (controllers, scheduler, node agents, applications) uses a
``Client``, so it runs unchanged in-process (:class:`LocalClient`, ``api.client()``) or
against a remote API server over HTTPS (:class:`HTTPClient`, configured by a
:class:`KubeConfig`; see ``docs/http-api.md``). See ``docs/api.md``::

    pod = await client.get(Pod, "web", namespace="default")          # -> Pod
    pods = await client.list(Pod, label_selector="app=web")           # -> ObjectList[Pod]
    async with client.watch(Pod, resource_version=pods.metadata.resource_version) as events:
        async for event in events:                                    # WatchEvent[Pod]
            print(event.type, event.object.metadata.name)

``record_event`` writes core/v1 Events with client-go's naming and aggregation
(:class:`EventRecorder`, usable with any Client).
"""

from __future__ import annotations

from korch.apiserver._types import ObjectList, WatchEvent
from korch.client._events import EventRecorder
from korch.client._http import HTTPClient
from korch.client._kubeconfig import KubeConfig
from korch.client._local import LocalClient
from korch.client._protocol import Client, GenericKind, WatchEvents

__all__ = (
    "Client",
    "EventRecorder",
    "GenericKind",
    "HTTPClient",
    "KubeConfig",
    "LocalClient",
    "ObjectList",
    "WatchEvent",
    "WatchEvents",
)
