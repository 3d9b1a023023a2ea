"""Privilege-escalation prevention: you can grant only what you hold.

kube-apiserver enforces this when Roles, ClusterRoles and bindings are written (in the RBAC
storage, not in the authorizer); korch does it as a validating admission plugin,
:class:`RBACEscalationCheck`, next to the :class:`~korch.security.RBACAuthorizer` whose policy
it reads:

* **creating or updating a Role/ClusterRole** is allowed if the user may ``escalate`` that
  role (a rule with verb ``escalate`` on ``roles``/``clusterroles``), or already holds every
  permission the role grants — in the role's namespace for a Role, cluster-wide for a
  ClusterRole. Adding or changing a ClusterRole's ``aggregationRule`` needs ``escalate`` or
  every permission (``*`` on ``*``), since it may pull in any role's rules;
* **creating or updating a RoleBinding/ClusterRoleBinding** is allowed if the user may
  ``bind`` the referenced role (verb ``bind`` on ``roles``/``clusterroles``, by name), or
  already holds every permission of that role — in the binding's namespace for a
  RoleBinding, cluster-wide for a ClusterRoleBinding.

"Holds" is kube's coverage test: every rule is split into single-verb, single-group,
single-resource (single-name) pieces, and each piece must be covered by one of the user's
rules — a ``*`` in the piece needs a ``*`` in the covering rule, a rule with resourceNames
covers only those names, ``*/scale`` covers every ``x/scale``, a ``/logs*`` URL covers every
path below it. Members of ``system:masters`` pass. Denials are Forbidden with kube's message,
listing the permissions not held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _misc
from korch.apiserver import _admission, _status, _types
from korch.security import _rbac, _rbac_authorizer

__all__ = ("RBACEscalationCheck", "covers")

_RBAC: Final = "rbac.authorization.k8s.io"


@attrs.frozen
class _Atom:
    verb: str
    group: str = ""
    resource: str = ""
    name: str = ""
    url: str = ""


def _atoms(rule: _misc.PolicyRule) -> Iterable[_Atom]:
    for verb in rule.verbs:
        for group in rule.api_groups:
            for resource in rule.resources:
                if rule.resource_names:
                    for name in rule.resource_names:
                        yield _Atom(verb, group, resource, name)
                else:
                    yield _Atom(verb, group, resource)
        for url in rule.non_resource_urls:
            yield _Atom(verb, url=url)


def _resource_covers(owned: str, wanted: str) -> bool:
    if owned in ("*", wanted):
        return True
    # "*/scale" covers "deployments/scale"
    return owned.startswith("*/") and "/" in wanted and wanted.split("/", 1)[1] == owned[2:]


def _url_covers(owned: str, wanted: str) -> bool:
    if owned in ("*", wanted):
        return True
    return owned.endswith("*") and wanted.startswith(owned[:-1])


def _rule_covers(owner: _misc.PolicyRule, atom: _Atom) -> bool:
    if "*" not in owner.verbs and atom.verb not in owner.verbs:
        return False
    if atom.url:
        return any(_url_covers(url, atom.url) for url in owner.non_resource_urls)
    if "*" not in owner.api_groups and atom.group not in owner.api_groups:
        return False
    if not any(_resource_covers(r, atom.resource) for r in owner.resources):
        return False
    return not owner.resource_names or (bool(atom.name) and atom.name in owner.resource_names)


def covers(
    owner_rules: Sequence[_misc.PolicyRule], rules: Sequence[_misc.PolicyRule]
) -> list[_misc.PolicyRule]:
    """The pieces of ``rules`` that ``owner_rules`` do not cover (empty: all covered), each
    as a one-verb rule, in order."""
    missing: list[_misc.PolicyRule] = []
    for rule in rules:
        for atom in _atoms(rule):
            if any(_rule_covers(owner, atom) for owner in owner_rules):
                continue
            if atom.url:
                piece = _misc.PolicyRule(verbs=[atom.verb], non_resource_urls=[atom.url])
            else:
                piece = _misc.PolicyRule(
                    verbs=[atom.verb],
                    api_groups=[atom.group],
                    resources=[atom.resource],
                    resource_names=[atom.name] if atom.name else [],
                )
            if piece not in missing:
                missing.append(piece)
    return missing


def _describe(rule: _misc.PolicyRule) -> str:
    def quoted(values: Sequence[str]) -> str:
        return "[" + " ".join(f'"{v}"' for v in values) + "]"

    if rule.non_resource_urls:
        return f"{{NonResourceURLs:{quoted(rule.non_resource_urls)}, Verbs:{quoted(rule.verbs)}}}"
    names = f", ResourceNames:{quoted(rule.resource_names)}" if rule.resource_names else ""
    return (
        f"{{APIGroups:{quoted(rule.api_groups)}, Resources:{quoted(rule.resources)}{names}, "
        f"Verbs:{quoted(rule.verbs)}}}"
    )


class RBACEscalationCheck:
    """A validating admission plugin that stops users granting permissions they lack.

    Args:
        authorizer: the RBAC authorizer whose policy says what each user holds.
    """

    def __init__(self, authorizer: _rbac_authorizer.RBACAuthorizer) -> None:
        self._authorizer = authorizer

    async def validate(self, attributes: _admission.AdmissionAttributes) -> None:
        """Reject a Role/ClusterRole/binding write that would escalate (module docstring)."""
        rt = attributes.resource
        if rt.group != _RBAC or attributes.operation == "DELETE" or attributes.subresource:
            return
        user = _rbac.effective_user(attributes.user)
        if _rbac_authorizer.SYSTEM_MASTERS in user.groups:
            return
        obj = attributes.object
        if rt.kind in ("Role", "ClusterRole"):
            await self._check_role(attributes, user, obj)
        elif rt.kind in ("RoleBinding", "ClusterRoleBinding"):
            await self._check_binding(attributes, user, obj)

    def _may(
        self, user: _types.UserInfo, verb: str, resource: str, namespace: str, name: str
    ) -> bool:
        request = _rbac.ResourceAttributes(
            verb=verb, group=_RBAC, resource=resource, namespace=namespace, name=name
        )
        return self._authorizer.decide(user, request).allowed

    def _held(self, user: _types.UserInfo, namespace: str) -> list[_misc.PolicyRule]:
        rules = []
        for item in _rbac.visit_rules(self._authorizer.policy, user, namespace):
            if not isinstance(item, str):
                rules.append(item[1])
        return rules

    def _forbid(
        self,
        attributes: _admission.AdmissionAttributes,
        user: _types.UserInfo,
        missing: Sequence[_misc.PolicyRule],
        what: str,
    ) -> errors.Forbidden:
        groups = "[" + " ".join(f'"{g}"' for g in user.groups) + "]"
        detail = "\n".join(_describe(rule) for rule in missing)
        reason = (
            f'user "{user.name}" (groups={groups}) is attempting to {what} RBAC permissions '
            f"not currently held:\n{detail}"
        )
        return _status.forbidden(attributes.resource, attributes.name, reason)

    async def _check_role(
        self, attributes: _admission.AdmissionAttributes, user: _types.UserInfo, role: Any
    ) -> None:
        namespace = attributes.namespace if attributes.resource.kind == "Role" else ""
        plural = attributes.resource.plural
        if self._may(user, "escalate", plural, namespace, attributes.name):
            return
        held = self._held(user, namespace)
        aggregation = getattr(role, "aggregation_rule", None)
        old_aggregation = getattr(attributes.old_object, "aggregation_rule", None)
        if aggregation is not None and aggregation != old_aggregation:
            everything = [
                _misc.PolicyRule(verbs=["*"], api_groups=["*"], resources=["*"]),
                _misc.PolicyRule(verbs=["*"], non_resource_urls=["*"]),
            ]
            missing = covers(held, everything)
            if missing:
                raise self._forbid(attributes, user, missing, "grant (by aggregationRule)")
        missing = covers(held, role.rules)
        if missing:
            raise self._forbid(attributes, user, missing, "grant")

    async def _check_binding(
        self, attributes: _admission.AdmissionAttributes, user: _types.UserInfo, binding: Any
    ) -> None:
        namespace = attributes.namespace if attributes.resource.kind == "RoleBinding" else ""
        ref = binding.role_ref
        plural = "clusterroles" if ref.kind == "ClusterRole" else "roles"
        if self._may(user, "bind", plural, namespace, ref.name):
            return
        rules = self._authorizer.policy.role_rules(ref.kind, ref.name, namespace)
        if rules is None:
            raise _status.forbidden(
                attributes.resource,
                attributes.name,
                f"{_rbac.not_found_message(ref.kind, ref.name)}: cannot check that "
                f'user "{user.name}" holds its permissions',
            )
        missing = covers(self._held(user, namespace), rules)
        if missing:
            raise self._forbid(attributes, user, missing, "grant")
