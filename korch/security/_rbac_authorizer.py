"""RBACAuthorizer: the :class:`korch.apiserver.Authorizer` that decides by RBAC objects.

It keeps an :class:`~korch.security.RBACEvaluator` current with the cluster: :meth:`run`
lists and then watches Roles, ClusterRoles, RoleBindings and ClusterRoleBindings through a
:class:`korch.client.Client` (relisting on ``Expired``, as an informer does). Each change
marks the index stale; the next decision rebuilds it once, so a burst of changes (applying
a manifest of fifty roles) costs one rebuild. Aggregated ClusterRoles are evaluated with
their aggregated rules (:func:`korch.security.aggregate_cluster_roles`), whether or not a
controller has written them back yet.

As kube-apiserver does, members of ``system:masters`` are allowed everything before RBAC is
consulted (its privileged-group authorizer) — which is also how the authorizer's own client
reads the RBAC objects through a server it guards: give that client a ``system:masters``
identity (:data:`korch.security.APISERVER_LOOPBACK_USER`). Until every kind has been listed
once, other requests are denied with a reason saying so.

``objects=[…]`` (and no client) gives a fixed policy (tests, embedded policies), synced at
once. An authorizer built without either gets its client in :meth:`run`, which lets it be
handed to the ``APIServer`` whose client it then uses::

    rbac = RBACAuthorizer()
    api = APIServer(store, authorizer=rbac, admission=[RBACEscalationCheck(rbac)])
    task_group.start_soon(rbac.run, api.client(user=APISERVER_LOOPBACK_USER))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final

import anyio

from korch import clock as clock_module
from korch import errors
from korch.api import _misc
from korch.apiserver import _admission, _types
from korch.client import _protocol
from korch.security import _rbac, _rbac_index, _rbac_reviews

__all__ = ("APISERVER_LOOPBACK_USER", "SYSTEM_MASTERS", "RBACAuthorizer")

log = logging.getLogger("korch.security")

SYSTEM_MASTERS: Final = "system:masters"
APISERVER_LOOPBACK_USER: Final = _types.UserInfo(
    name="system:apiserver", groups=(SYSTEM_MASTERS, _rbac.AUTHENTICATED_GROUP)
)
"""The identity of the API server's own in-process clients (kube-apiserver's loopback user)."""

_KINDS: Final = (
    _misc.Role,
    _misc.ClusterRole,
    _misc.RoleBinding,
    _misc.ClusterRoleBinding,
)
_NOT_SYNCED: Final = "RBAC: the authorizer has not read the roles and bindings yet"
_RETRY_SECONDS: Final = 1.0


def _key(obj: Any) -> tuple[str, str]:
    return (obj.metadata.namespace, obj.metadata.name)


class RBACAuthorizer:
    """Authorize requests by the cluster's RBAC objects (see the module docstring).

    Args:
        client: where to read and watch the RBAC objects (or give it to :meth:`run`).
        objects: a fixed policy's Roles, ClusterRoles and bindings (other kinds are ignored).
        clock: paces retries after errors (default: the system clock).

    Raises:
        ValueError: both a client and objects.
    """

    def __init__(
        self,
        client: _protocol.Client | None = None,
        *,
        objects: Iterable[object] | None = None,
        clock: clock_module.Clock | None = None,
    ) -> None:
        if client is not None and objects is not None:
            raise ValueError("give a client to watch, or objects for a fixed policy, not both")
        self._client = client
        self._fixed = objects is not None
        self._clock: clock_module.Clock = clock or clock_module.SystemClock()
        self._objects: dict[type, dict[tuple[str, str], object]] = {kind: {} for kind in _KINDS}
        self._listed: set[type] = set()
        self._synced = anyio.Event()
        self._evaluator: _rbac_index.RBACEvaluator | None = None
        for obj in objects or ():
            for kind in _KINDS:
                if type(obj) is kind:
                    self._objects[kind][_key(obj)] = obj
        if self._fixed:
            self._listed.update(_KINDS)
            self._synced.set()

    # -- keeping current -------------------------------------------------------------

    async def run(self, client: _protocol.Client | None = None) -> None:
        """List and watch the RBAC kinds until cancelled.

        Args:
            client: the client to read through (default: the one given at construction) —
                so an authorizer can be handed to an ``APIServer`` before that server's own
                client exists.

        Raises:
            RuntimeError: a fixed policy, or no client at all.
        """
        if self._fixed:
            raise RuntimeError("this RBACAuthorizer has a fixed policy: there is nothing to run")
        client = client or self._client
        if client is None:
            raise RuntimeError("RBACAuthorizer.run() needs a client")
        async with anyio.create_task_group() as tg:
            for kind in _KINDS:
                tg.start_soon(self._reflect, client, kind)

    async def _reflect(self, client: _protocol.Client, kind: type[Any]) -> None:
        while True:
            try:
                listed: _types.ObjectList[Any] = await client.list(kind)
                self._objects[kind] = {_key(obj): obj for obj in listed.items}
                self._changed(kind)
                resource_version = listed.metadata.resource_version
                async with client.watch(
                    kind, resource_version=resource_version, allow_watch_bookmarks=True
                ) as events:
                    event: _types.WatchEvent[Any]
                    async for event in events:
                        if event.type in ("ADDED", "MODIFIED"):
                            self._objects[kind][_key(event.object)] = event.object
                            self._changed(kind)
                        elif event.type == "DELETED":
                            self._objects[kind].pop(_key(event.object), None)
                            self._changed(kind)
            except errors.Expired:
                continue  # the watch fell behind compaction: list again
            except errors.APIError as exc:
                log.warning("RBAC: cannot watch %s (%s); retrying", kind.__name__, exc)
                await self._clock.sleep(_RETRY_SECONDS)

    def _changed(self, kind: type) -> None:
        self._evaluator = None
        self._listed.add(kind)
        if len(self._listed) == len(_KINDS):
            self._synced.set()

    @property
    def synced(self) -> bool:
        """Whether every RBAC kind has been listed at least once."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Wait until every RBAC kind has been listed at least once."""
        await self._synced.wait()

    @property
    def policy(self) -> _rbac.Policy:
        """The RBAC objects as currently known."""
        return self.evaluator.policy

    @property
    def evaluator(self) -> _rbac_index.RBACEvaluator:
        """The index over the current policy (rebuilt on first use after a change)."""
        evaluator = self._evaluator
        if evaluator is None:
            objects = [obj for kind in _KINDS for obj in self._objects[kind].values()]
            evaluator = self._evaluator = _rbac_index.RBACEvaluator.from_objects(objects)
        return evaluator

    # -- deciding --------------------------------------------------------------------

    def _precheck(self, user: _types.UserInfo | None) -> tuple[bool, str] | None:
        if user is not None and SYSTEM_MASTERS in user.groups:
            return True, ""
        if not self._synced.is_set():
            return False, _NOT_SYNCED
        return None

    async def authorize(self, attributes: _admission.RequestAttributes) -> _admission.Decision:
        """Decide one API request (the :class:`korch.apiserver.Authorizer` protocol)."""
        user = attributes.user
        early = self._precheck(user)
        if early is not None:
            return _admission.Decision(*early)
        rt = attributes.resource
        allowed, reason = self.evaluator.decide_resource(
            _rbac.effective_user(user),
            attributes.verb,
            rt.group,
            rt.plural,
            attributes.subresource,
            attributes.namespace,
            attributes.name,
        )
        return _admission.Decision(allowed, reason)

    def decide(
        self,
        user: _types.UserInfo | None,
        request: _rbac.ResourceAttributes | _rbac.NonResourceAttributes,
    ) -> _admission.Decision:
        """Decide a resource or non-resource request (``/healthz``, ``/apis``…) of ``user``."""
        early = self._precheck(user)
        if early is not None:
            return _admission.Decision(*early)
        return _admission.Decision(*self.evaluator.decide(user, request))

    def subject_access_review(
        self, spec: _rbac_reviews.SubjectAccessReviewSpec
    ) -> _rbac_reviews.SubjectAccessReviewStatus:
        """Answer a SubjectAccessReview (privileged groups included, as kube-apiserver does).

        Raises:
            korch.errors.Invalid: see :func:`korch.security.subject_access_review`.
        """
        if SYSTEM_MASTERS in spec.groups:
            _rbac_reviews.subject_access_review(self.evaluator, spec)  # validates the spec
            return _rbac_reviews.SubjectAccessReviewStatus(allowed=True)
        if not self._synced.is_set():
            return _rbac_reviews.SubjectAccessReviewStatus(
                allowed=False, evaluation_error=_NOT_SYNCED.removeprefix("RBAC: ")
            )
        return _rbac_reviews.subject_access_review(self.evaluator, spec)

    def self_subject_access_review(
        self,
        user: _types.UserInfo | None,
        request: _rbac.ResourceAttributes | _rbac.NonResourceAttributes,
    ) -> _rbac_reviews.SubjectAccessReviewStatus:
        """Answer ``kubectl auth can-i <verb> <resource>`` for the requesting ``user``."""
        decision = self.decide(user, request)
        if decision.allowed:
            return _rbac_reviews.SubjectAccessReviewStatus(allowed=True, reason=decision.reason)
        return _rbac_reviews.SubjectAccessReviewStatus(
            allowed=False, evaluation_error=decision.reason.removeprefix("RBAC: ")
        )

    def rules_for(
        self, user: _types.UserInfo | None, namespace: str
    ) -> _rbac_reviews.SubjectRulesReviewStatus:
        """What ``user`` may do in ``namespace`` (SelfSubjectRulesReview, ``can-i --list``)."""
        return _rbac_reviews.rules_for(self.policy, user, namespace)
