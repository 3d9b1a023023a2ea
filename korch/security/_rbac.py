"""RBAC as kube-apiserver evaluates it: rule matching, subjects and the reference evaluator.

A request is allowed when some binding that applies to it grants a rule that covers it.
RBAC has no deny rules: permissions only add up, so a request nobody grants is denied.

**Which bindings apply.** Every ClusterRoleBinding, for any request; a RoleBinding only for
requests in its own namespace — and a RoleBinding that references a ClusterRole grants that
ClusterRole's rules in the binding's namespace only. Requests without a namespace (a
cluster-scoped resource, a list across all namespaces, a non-resource URL) consult
ClusterRoleBindings alone.

**Which subjects match.** ``User`` by name, ``Group`` by membership in the user's groups,
``ServiceAccount`` by the user name ``system:serviceaccount:<namespace>:<name>`` (the
subject's namespace, or a RoleBinding's own namespace when the subject names none).

**Which rules cover a request** (:func:`rule_allows`, :func:`non_resource_rule_allows`):

* the verb is listed, or ``*``;
* the API group is listed, or ``*``;
* the resource is listed — ``pods`` covers ``pods`` only; a subresource request
  (``pods/log``) needs ``pods/log``, ``*/log`` or ``*``;
* ``resourceNames`` is empty, or lists the request's name (a request without a name —
  list, watch, deletecollection, a create before the name exists — never matches a rule with
  ``resourceNames``);
* for non-resource requests, the path equals a ``nonResourceURLs`` entry, or the entry ends
  in ``*`` and the path starts with what precedes it (``/apis/*`` covers ``/apis/apps``).

This module is the reference evaluator (:func:`visit_rules`, :func:`naive_decision`), which
walks every binding in Kubernetes' order; :class:`korch.security.RBACEvaluator` answers the
same questions from an index (tests prove they agree).

Reasons are kube-apiserver's: an allowed request says which binding allowed it (``RBAC:
allowed by ClusterRoleBinding "admins" of ClusterRole "cluster-admin" to Group
"system:masters"``); a denial carries no reason unless a binding referenced a role that does
not exist (``RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import attrs

from korch.api import _misc
from korch.apiserver import _types
from korch.security import _rbac_aggregation

__all__ = (
    "ANONYMOUS_USER",
    "AUTHENTICATED_GROUP",
    "SERVICE_ACCOUNTS_GROUP",
    "SERVICE_ACCOUNT_USER_PREFIX",
    "UNAUTHENTICATED_GROUP",
    "NonResourceAttributes",
    "Policy",
    "ResourceAttributes",
    "RuleSource",
    "effective_user",
    "naive_decision",
    "non_resource_rule_allows",
    "rule_allows",
    "service_account_groups",
    "service_account_username",
    "split_service_account_username",
    "subject_matches",
    "visit_rules",
)

RBAC_GROUP: Final = "rbac.authorization.k8s.io"
ANONYMOUS_USER: Final = "system:anonymous"
UNAUTHENTICATED_GROUP: Final = "system:unauthenticated"
AUTHENTICATED_GROUP: Final = "system:authenticated"
SERVICE_ACCOUNTS_GROUP: Final = "system:serviceaccounts"
SERVICE_ACCOUNT_USER_PREFIX: Final = "system:serviceaccount:"


def service_account_username(namespace: str, name: str) -> str:
    """``system:serviceaccount:<namespace>:<name>``: the user a service account acts as."""
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


def split_service_account_username(username: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a service-account user name, ``None`` for other users."""
    if not username.startswith(SERVICE_ACCOUNT_USER_PREFIX):
        return None
    namespace, sep, name = username[len(SERVICE_ACCOUNT_USER_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """The groups of every service account of ``namespace`` (without system:authenticated)."""
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def effective_user(user: _types.UserInfo | None) -> _types.UserInfo:
    """The identity RBAC evaluates: ``None`` (no credentials) is ``system:anonymous`` in the
    ``system:unauthenticated`` group, as kube-apiserver's anonymous authenticator makes it."""
    if user is None:
        return _types.UserInfo(name=ANONYMOUS_USER, groups=(UNAUTHENTICATED_GROUP,))
    return user


# -- request attributes (authorization.k8s.io/v1 ResourceAttributes, NonResourceAttributes) --


@attrs.frozen(kw_only=True)
class ResourceAttributes:
    """A request on an API resource, as in a SubjectAccessReview's ``resourceAttributes``.

    ``group`` is the API group (``""`` for core), ``resource`` the plural (``pods``),
    ``subresource`` e.g. ``log``; ``namespace`` is ``""`` for cluster-scoped resources and
    for requests across all namespaces; ``name`` is ``""`` for list/watch/deletecollection.
    """

    verb: str
    resource: str
    group: str = ""
    version: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@attrs.frozen(kw_only=True)
class NonResourceAttributes:
    """A request on a path outside the resource API (``/healthz``, ``/version``, ``/apis``);
    ``verb`` is the lower-case HTTP method (``get``, ``post``…)."""

    path: str
    verb: str


# -- rule matching -----------------------------------------------------------------------


def rule_allows(rule: _misc.PolicyRule, request: ResourceAttributes) -> bool:
    """Whether ``rule`` covers the resource request (see the module docstring)."""
    if "*" not in rule.verbs and request.verb not in rule.verbs:
        return False
    if "*" not in rule.api_groups and request.group not in rule.api_groups:
        return False
    if request.subresource:
        combined = f"{request.resource}/{request.subresource}"
        any_subresource = f"*/{request.subresource}"
        if not any(r in ("*", combined, any_subresource) for r in rule.resources):
            return False
    elif "*" not in rule.resources and request.resource not in rule.resources:
        return False
    return not rule.resource_names or request.name in rule.resource_names


def non_resource_rule_allows(rule: _misc.PolicyRule, request: NonResourceAttributes) -> bool:
    """Whether ``rule`` covers the non-resource request (see the module docstring)."""
    if "*" not in rule.verbs and request.verb not in rule.verbs:
        return False
    for url in rule.non_resource_urls:
        if url == "*" or url == request.path:
            return True
        if url.endswith("*") and request.path.startswith(url[:-1]):
            return True
    return False


def subject_matches(
    subject: _misc.Subject, user: _types.UserInfo, binding_namespace: str = ""
) -> bool:
    """Whether a binding's ``subject`` names ``user`` (``binding_namespace``: a RoleBinding's
    namespace, the default for ServiceAccount subjects without one)."""
    if subject.kind == "User":
        return subject.name == user.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        namespace = subject.namespace or binding_namespace
        return bool(namespace) and user.name == service_account_username(namespace, subject.name)
    return False


def describe_subject(subject: _misc.Subject, binding_namespace: str = "") -> str:
    """``User "alice"``, ``ServiceAccount "builder/ci"`` (name/namespace), as in reasons."""
    if subject.kind == "ServiceAccount":
        return f'ServiceAccount "{subject.name}/{subject.namespace or binding_namespace}"'
    return f'{subject.kind} "{subject.name}"'


@attrs.frozen
class RuleSource:
    """Which binding granted a rule, for the ``allowed by …`` reason."""

    binding_kind: str
    binding_name: str
    binding_namespace: str
    role_kind: str
    role_name: str
    subject: str

    def __str__(self) -> str:
        if self.binding_kind == "RoleBinding":
            binding = f'RoleBinding "{self.binding_name}/{self.binding_namespace}"'
        else:
            binding = f'ClusterRoleBinding "{self.binding_name}"'
        return f'{binding} of {self.role_kind} "{self.role_name}" to {self.subject}'


def not_found_message(kind: str, name: str) -> str:
    """The message of a binding whose role is missing (kube's NotFound text)."""
    return f'{kind.lower()}.{RBAC_GROUP} "{name}" not found'


# -- the objects RBAC decides from -----------------------------------------------------


@attrs.frozen(kw_only=True)
class Policy:
    """A snapshot of the RBAC objects of a cluster.

    ``cluster_role_rules`` overrides the rules of ClusterRoles by name — the aggregated
    rules :func:`korch.security.aggregate_cluster_roles` computes for ClusterRoles with an
    ``aggregationRule`` (:meth:`from_objects` fills it in).
    """

    roles: Sequence[_misc.Role] = ()
    cluster_roles: Sequence[_misc.ClusterRole] = ()
    role_bindings: Sequence[_misc.RoleBinding] = ()
    cluster_role_bindings: Sequence[_misc.ClusterRoleBinding] = ()
    cluster_role_rules: dict[str, tuple[_misc.PolicyRule, ...]] = attrs.Factory(dict)

    @classmethod
    def from_objects(cls, objects: Iterable[object]) -> Policy:
        """Sort Roles, ClusterRoles and bindings out of ``objects`` (other kinds are
        ignored) and compute aggregated ClusterRoles' rules.

        Raises:
            TypeError: an object of an RBAC kind that is not a typed RBAC object.
        """
        roles: list[_misc.Role] = []
        cluster_roles: list[_misc.ClusterRole] = []
        role_bindings: list[_misc.RoleBinding] = []
        cluster_role_bindings: list[_misc.ClusterRoleBinding] = []
        for obj in objects:
            if isinstance(obj, _misc.ClusterRole):
                cluster_roles.append(obj)
            elif isinstance(obj, _misc.Role):
                roles.append(obj)
            elif isinstance(obj, _misc.ClusterRoleBinding):
                cluster_role_bindings.append(obj)
            elif isinstance(obj, _misc.RoleBinding):
                role_bindings.append(obj)
        return cls(
            roles=roles,
            cluster_roles=cluster_roles,
            role_bindings=role_bindings,
            cluster_role_bindings=cluster_role_bindings,
            cluster_role_rules=_rbac_aggregation.aggregate_cluster_roles(cluster_roles),
        )

    def role_rules(
        self, kind: str, name: str, namespace: str
    ) -> tuple[_misc.PolicyRule, ...] | None:
        """The rules a roleRef grants, ``None`` when the role does not exist."""
        if kind == "ClusterRole":
            if name in self.cluster_role_rules:
                return self.cluster_role_rules[name]
            for cluster_role in self.cluster_roles:
                if cluster_role.metadata.name == name:
                    return tuple(cluster_role.rules)
            return None
        if kind == "Role":
            for role in self.roles:
                if role.metadata.name == name and role.metadata.namespace == namespace:
                    return tuple(role.rules)
        return None


def visit_rules(
    policy: Policy, user: _types.UserInfo, namespace: str
) -> Iterator[tuple[RuleSource, _misc.PolicyRule] | str]:
    """Every rule that applies to ``user`` in ``namespace`` (``""``: cluster-wide only), in
    kube-apiserver's order — ClusterRoleBindings, then the namespace's RoleBindings —
    each with its source; a missing role yields its error message instead."""
    for crb in policy.cluster_role_bindings:
        subject = next((s for s in crb.subjects if subject_matches(s, user)), None)
        if subject is None:
            continue
        rules = policy.role_rules(crb.role_ref.kind, crb.role_ref.name, "")
        if rules is None or crb.role_ref.kind != "ClusterRole":
            yield not_found_message(crb.role_ref.kind, crb.role_ref.name)
            continue
        source = RuleSource(
            "ClusterRoleBinding",
            crb.metadata.name,
            "",
            crb.role_ref.kind,
            crb.role_ref.name,
            describe_subject(subject),
        )
        for rule in rules:
            yield source, rule
    if not namespace:
        return
    for rb in policy.role_bindings:
        if rb.metadata.namespace != namespace:
            continue
        subject = next((s for s in rb.subjects if subject_matches(s, user, namespace)), None)
        if subject is None:
            continue
        rules = policy.role_rules(rb.role_ref.kind, rb.role_ref.name, namespace)
        if rules is None:
            yield not_found_message(rb.role_ref.kind, rb.role_ref.name)
            continue
        source = RuleSource(
            "RoleBinding",
            rb.metadata.name,
            namespace,
            rb.role_ref.kind,
            rb.role_ref.name,
            describe_subject(subject, namespace),
        )
        for rule in rules:
            yield source, rule


def naive_decision(
    policy: Policy,
    user: _types.UserInfo | None,
    request: ResourceAttributes | NonResourceAttributes,
) -> tuple[bool, str]:
    """``(allowed, reason)`` by walking every binding: the reference evaluator."""
    who = effective_user(user)
    errors: list[str] = []
    namespace = request.namespace if isinstance(request, ResourceAttributes) else ""
    for item in visit_rules(policy, who, namespace):
        if isinstance(item, str):
            errors.append(item)
            continue
        source, rule = item
        if isinstance(request, ResourceAttributes):
            allowed = rule_allows(rule, request)
        else:
            allowed = non_resource_rule_allows(rule, request)
        if allowed:
            return True, f"RBAC: allowed by {source}"
    return False, denial_reason(errors)


def denial_reason(errors: Sequence[str]) -> str:
    """``""``, or the errors met while evaluating (``RBAC: <error>``, several in brackets)."""
    if not errors:
        return ""
    unique = list(dict.fromkeys(errors))
    if len(unique) == 1:
        return f"RBAC: {unique[0]}"
    return "RBAC: [" + ", ".join(unique) + "]"
