"""The indexed RBAC evaluator: the reference semantics of :mod:`korch.security._rbac`, fast.

Walking every binding for every request costs time proportional to the whole policy. The
index turns it around: built once per policy version, it maps each *subject* — a user name
(service accounts are user names), a group — to the rules granted to it, split by scope:

* ``cluster[subject]`` — rules from ClusterRoleBindings (valid in every namespace and for
  cluster-scoped and non-resource requests);
* ``namespaced[(subject, namespace)]`` — rules from the namespace's RoleBindings.

Within a scope, each rule is expanded into entries keyed by ``(apiGroup, resource)`` —
wildcards kept as ``"*"`` keys, subresource rules as ``pods/log`` or ``*/log`` — each entry a
:class:`_Grant` (its verbs, its resourceNames, the binding it came from). A decision then
looks up the user and each group in (at most) two dicts, and for each hit probes at most six
``(group, resource)`` keys: the request's own, with ``*`` for the group and/or the resource,
and ``*/<subresource>``. Nothing depends on how many roles exist, only on how many grants
share a key for this subject.

Non-resource rules are split into exact paths (a dict) and ``prefix*`` paths (a short list).

The evaluator is immutable; :class:`korch.security.RBACAuthorizer` builds a new one when the
policy changes (a full rebuild: ~N rules of work, done lazily on the first request after a
change, so a burst of changes costs one rebuild).

The answer equals :func:`korch.security.naive_decision`'s (a Hypothesis test checks it);
when several bindings allow a request, the reason may name a different one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, TypeAlias

import attrs

from korch.api import _misc
from korch.apiserver import _types
from korch.security import _rbac

__all__ = ("RBACEvaluator",)

_Subject: TypeAlias = tuple[str, str]  # ("User", name) or ("Group", name)
_USER: Final = "User"
_GROUP: Final = "Group"


@attrs.frozen(slots=True)
class _Grant:
    all_verbs: bool
    verbs: frozenset[str]
    names: frozenset[str]  # empty: every name
    source: _rbac.RuleSource

    def allows(self, verb: str, name: str) -> bool:
        if not self.all_verbs and verb not in self.verbs:
            return False
        return not self.names or name in self.names


class _Compiled:
    """The rules of one subject in one scope, indexed (see the module docstring)."""

    __slots__ = ("non_resource", "prefixes", "resources")

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], list[_Grant]] = {}
        self.non_resource: dict[str, list[_Grant]] = {}
        self.prefixes: list[tuple[str, _Grant]] = []

    def add(self, rule: _misc.PolicyRule, source: _rbac.RuleSource, *, cluster: bool) -> None:
        grant = _Grant(
            "*" in rule.verbs, frozenset(rule.verbs), frozenset(rule.resource_names), source
        )
        for group in rule.api_groups:
            for resource in rule.resources:
                self.resources.setdefault((group, resource), []).append(grant)
        if not cluster:
            return  # a RoleBinding cannot grant non-resource URLs (they have no namespace)
        for url in rule.non_resource_urls:
            if url.endswith("*"):
                self.prefixes.append((url[:-1], grant))
            else:
                self.non_resource.setdefault(url, []).append(grant)

    def resource_grant(
        self, group: str, keys: tuple[str, ...], verb: str, name: str
    ) -> _Grant | None:
        resources = self.resources
        for group_key in (group, "*"):
            for resource_key in keys:
                grants = resources.get((group_key, resource_key))
                if grants:
                    for grant in grants:
                        if grant.allows(verb, name):
                            return grant
        return None

    def non_resource_grant(self, path: str, verb: str) -> _Grant | None:
        for grant in self.non_resource.get(path, ()):
            if grant.all_verbs or verb in grant.verbs:
                return grant
        for prefix, grant in self.prefixes:
            if path.startswith(prefix) and (grant.all_verbs or verb in grant.verbs):
                return grant
        return None


def _subject_key(subject: _misc.Subject, binding_namespace: str) -> _Subject | None:
    if subject.kind == _USER:
        return (_USER, subject.name)
    if subject.kind == _GROUP:
        return (_GROUP, subject.name)
    if subject.kind == "ServiceAccount":
        namespace = subject.namespace or binding_namespace
        if not namespace:
            return None
        return (_USER, _rbac.service_account_username(namespace, subject.name))
    return None


class RBACEvaluator:
    """Answers RBAC questions about one :class:`~korch.security.Policy` from an index.

    Args:
        policy: the roles and bindings (see :meth:`korch.security.Policy.from_objects`).
    """

    def __init__(self, policy: _rbac.Policy) -> None:
        self.policy = policy
        self._cluster: dict[_Subject, _Compiled] = {}
        self._namespaced: dict[tuple[_Subject, str], _Compiled] = {}
        self._errors: dict[tuple[_Subject, str], list[tuple[int, str]]] = {}
        self._build()

    @classmethod
    def from_objects(cls, objects: Iterable[object]) -> RBACEvaluator:
        """An evaluator over the Roles, ClusterRoles and bindings among ``objects``."""
        return cls(_rbac.Policy.from_objects(objects))

    def _build(self) -> None:
        policy = self.policy
        cluster_rules = {role.metadata.name: tuple(role.rules) for role in policy.cluster_roles}
        cluster_rules.update(policy.cluster_role_rules)
        role_rules = {
            (role.metadata.namespace, role.metadata.name): tuple(role.rules)
            for role in policy.roles
        }
        # errors keep their binding's position: a denial lists them in kube's visiting order
        for position, crb in enumerate(policy.cluster_role_bindings):
            ref = crb.role_ref
            rules = cluster_rules.get(ref.name) if ref.kind == "ClusterRole" else None
            for subject in crb.subjects:
                key = _subject_key(subject, "")
                if key is None:
                    continue
                if rules is None:
                    self._errors.setdefault((key, ""), []).append(
                        (position, _rbac.not_found_message(ref.kind, ref.name))
                    )
                    continue
                source = _rbac.RuleSource(
                    "ClusterRoleBinding",
                    crb.metadata.name,
                    "",
                    ref.kind,
                    ref.name,
                    _rbac.describe_subject(subject),
                )
                compiled = self._cluster.get(key)
                if compiled is None:
                    compiled = self._cluster[key] = _Compiled()
                for rule in rules:
                    compiled.add(rule, source, cluster=True)
        offset = len(policy.cluster_role_bindings)
        for position, rb in enumerate(policy.role_bindings, start=offset):
            ref, namespace = rb.role_ref, rb.metadata.namespace
            if ref.kind == "ClusterRole":
                rules = cluster_rules.get(ref.name)
            elif ref.kind == "Role":
                rules = role_rules.get((namespace, ref.name))
            else:
                rules = None
            for subject in rb.subjects:
                key = _subject_key(subject, namespace)
                if key is None:
                    continue
                if rules is None:
                    self._errors.setdefault((key, namespace), []).append(
                        (position, _rbac.not_found_message(ref.kind, ref.name))
                    )
                    continue
                source = _rbac.RuleSource(
                    "RoleBinding",
                    rb.metadata.name,
                    namespace,
                    ref.kind,
                    ref.name,
                    _rbac.describe_subject(subject, namespace),
                )
                compiled = self._namespaced.get((key, namespace))
                if compiled is None:
                    compiled = self._namespaced[(key, namespace)] = _Compiled()
                for rule in rules:
                    compiled.add(rule, source, cluster=False)

    @staticmethod
    def _subjects(user: _types.UserInfo) -> list[_Subject]:
        return [(_USER, user.name), *((_GROUP, group) for group in user.groups)]

    def _denial(self, subjects: list[_Subject], namespace: str) -> tuple[bool, str]:
        errors: list[tuple[int, str]] = []
        for key in subjects:
            errors.extend(self._errors.get((key, ""), ()))
            if namespace:
                errors.extend(self._errors.get((key, namespace), ()))
        errors.sort()
        return False, _rbac.denial_reason([message for _, message in errors])

    def decide(
        self,
        user: _types.UserInfo | None,
        request: _rbac.ResourceAttributes | _rbac.NonResourceAttributes,
    ) -> tuple[bool, str]:
        """``(allowed, reason)`` for ``user`` (``None``: anonymous) making ``request``."""
        who = _rbac.effective_user(user)
        subjects = self._subjects(who)
        if isinstance(request, _rbac.NonResourceAttributes):
            for key in subjects:
                compiled = self._cluster.get(key)
                if compiled is not None:
                    grant = compiled.non_resource_grant(request.path, request.verb)
                    if grant is not None:
                        return True, f"RBAC: allowed by {grant.source}"
            return self._denial(subjects, "")
        return self.decide_resource(
            who,
            request.verb,
            request.group,
            request.resource,
            request.subresource,
            request.namespace,
            request.name,
            subjects,
        )

    def decide_resource(
        self,
        user: _types.UserInfo,
        verb: str,
        group: str,
        resource: str,
        subresource: str,
        namespace: str,
        name: str,
        subjects: list[_Subject] | None = None,
    ) -> tuple[bool, str]:
        """The hot path of :meth:`decide` for resource requests (positional, no attrs)."""
        if subjects is None:
            subjects = self._subjects(user)
        if subresource:
            keys: tuple[str, ...] = (f"{resource}/{subresource}", "*", f"*/{subresource}")
        else:
            keys = (resource, "*")
        cluster, namespaced = self._cluster, self._namespaced
        for key in subjects:
            compiled = cluster.get(key)
            if compiled is not None:
                grant = compiled.resource_grant(group, keys, verb, name)
                if grant is not None:
                    return True, f"RBAC: allowed by {grant.source}"
            if namespace:
                compiled = namespaced.get((key, namespace))
                if compiled is not None:
                    grant = compiled.resource_grant(group, keys, verb, name)
                    if grant is not None:
                        return True, f"RBAC: allowed by {grant.source}"
        return self._denial(subjects, namespace)

    def allowed(
        self,
        user: _types.UserInfo | None,
        request: _rbac.ResourceAttributes | _rbac.NonResourceAttributes,
    ) -> bool:
        """Whether ``user`` may make ``request`` (:meth:`decide` without the reason)."""
        return self.decide(user, request)[0]
