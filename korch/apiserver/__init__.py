"""korch.apiserver — kube-apiserver's semantics over a :class:`korch.store.Store`, in-process.

See ``docs/api.md``. In short::

    from korch.apiserver import APIServer
    api = APIServer(store, clock=clock)          # or: async with APIServer(store) as api:
    client = api.client()                        # korch.client.Client
    pod = await client.create(Pod(metadata=ObjectMeta(name="web"), spec=...))
    async with client.watch(Pod, resource_version=pod.metadata.resource_version) as events:
        async for event in events: ...           # WatchEvent(type, object)

Objects live under ``/registry/<group|core>/<plural>/<namespace>/<name>`` as compact JSON;
resourceVersion is the store's mod_revision. Extension points: admission plugins
(:class:`MutatingAdmission`, :class:`ValidatingAdmission`), an :class:`Authorizer`,
:class:`Authenticator` chains for front ends, and per-kind :class:`Strategy` entries
(``api.register_strategy``) next to the kinds registered on ``api.registry``.
"""

from __future__ import annotations

from korch.apiserver._admission import (
    AdmissionAttributes,
    Authorizer,
    Decision,
    MutatingAdmission,
    RequestAttributes,
    ValidatingAdmission,
)
from korch.apiserver._authn import AuthenticationRequest, Authenticator, authenticate
from korch.apiserver._gc import GarbageCollector
from korch.apiserver._keys import namespace_prefix, object_key, resource_prefix
from korch.apiserver._plugins import LimitRanger, ServiceAccountAdmission, default_admission_chain
from korch.apiserver._plugins_quota import ResourceQuotaAdmission
from korch.apiserver._pods import PodLogOptions, PodLogSource
from korch.apiserver._server import APIServer
from korch.apiserver._status import error_from_status, status_for_error
from korch.apiserver._strategy import ScalePaths, Strategy
from korch.apiserver._types import KindRef, ObjectList, PatchType, UserInfo, WatchEvent
from korch.apiserver._watch import WatchStream

__all__ = (
    "APIServer",
    "AdmissionAttributes",
    "AuthenticationRequest",
    "Authenticator",
    "Authorizer",
    "Decision",
    "GarbageCollector",
    "KindRef",
    "LimitRanger",
    "MutatingAdmission",
    "ObjectList",
    "PatchType",
    "PodLogOptions",
    "PodLogSource",
    "RequestAttributes",
    "ResourceQuotaAdmission",
    "ScalePaths",
    "ServiceAccountAdmission",
    "Strategy",
    "UserInfo",
    "ValidatingAdmission",
    "WatchEvent",
    "WatchStream",
    "authenticate",
    "default_admission_chain",
    "error_from_status",
    "namespace_prefix",
    "object_key",
    "resource_prefix",
    "status_for_error",
)
