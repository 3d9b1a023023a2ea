"""Access reviews: the questions ``kubectl auth can-i`` asks, answered from RBAC.

* **SubjectAccessReview** (``authorization.k8s.io/v1``): may this user (name, groups) do
  this (resource or non-resource request)? :func:`subject_access_review` answers a
  :class:`SubjectAccessReviewSpec` with a :class:`SubjectAccessReviewStatus`.
  A SelfSubjectAccessReview is the same question about the requesting user
  (:func:`self_subject_access_review`); ``kubectl auth can-i create pods`` sends one.
* **SelfSubjectRulesReview**: every rule that applies to the user in a namespace
  (``kubectl auth can-i --list``): :func:`rules_for` returns a
  :class:`SubjectRulesReviewStatus` whose resource rules come from ClusterRoleBindings and
  the namespace's RoleBindings, and whose non-resource rules come from ClusterRoleBindings.
  As in Kubernetes, the list is informational: ``incomplete`` is true when a binding
  referenced a missing role, and ``evaluationError`` says which.

``korch.api`` has no ``authorization.k8s.io`` kinds yet, so these value types live here
with Kubernetes' field names in snake case; the HTTP front end maps them to the wire.
RBAC never denies explicitly, so ``denied`` is always false: a request nobody allows is
just not allowed.
"""

from __future__ import annotations

import attrs

from korch import errors
from korch.api import _misc
from korch.apiserver import _types
from korch.security import _rbac, _rbac_index

__all__ = (
    "NonResourceRule",
    "ResourceRule",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
    "SubjectRulesReviewStatus",
    "rules_for",
    "self_subject_access_review",
    "subject_access_review",
)


@attrs.frozen(kw_only=True)
class SubjectAccessReviewSpec:
    """Who asks to do what: exactly one of ``resource_attributes`` and
    ``non_resource_attributes``; ``user``/``groups``/``uid``/``extra`` name the subject."""

    resource_attributes: _rbac.ResourceAttributes | None = None
    non_resource_attributes: _rbac.NonResourceAttributes | None = None
    user: str = ""
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class SubjectAccessReviewStatus:
    """The answer: ``allowed``, why (``reason``), and any error met while deciding."""

    allowed: bool
    denied: bool = False
    reason: str = ""
    evaluation_error: str = ""


@attrs.frozen(kw_only=True)
class ResourceRule:
    """One rule on resources, as a SelfSubjectRulesReview lists it."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class NonResourceRule:
    """One rule on non-resource URLs, as a SelfSubjectRulesReview lists it."""

    verbs: tuple[str, ...]
    non_resource_urls: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SubjectRulesReviewStatus:
    """What a user may do in a namespace (``kubectl auth can-i --list``)."""

    resource_rules: tuple[ResourceRule, ...] = ()
    non_resource_rules: tuple[NonResourceRule, ...] = ()
    incomplete: bool = False
    evaluation_error: str = ""


def _check_spec(spec: SubjectAccessReviewSpec) -> None:
    has_resource = spec.resource_attributes is not None
    has_non_resource = spec.non_resource_attributes is not None
    if has_resource == has_non_resource:
        which = "both" if has_resource else "neither"
        raise errors.Invalid(
            "SubjectAccessReview is invalid",
            [
                errors.Cause(
                    "spec.resourceAttributes",
                    f"exactly one of resourceAttributes or nonResourceAttributes must be "
                    f"specified, got {which}",
                    "FieldValueRequired" if not has_resource else "FieldValueInvalid",
                )
            ],
        )


def subject_access_review(
    evaluator: _rbac_index.RBACEvaluator, spec: SubjectAccessReviewSpec
) -> SubjectAccessReviewStatus:
    """Answer a SubjectAccessReview from RBAC alone.

    Raises:
        korch.errors.Invalid: no user and no groups, or not exactly one kind of attributes.
    """
    _check_spec(spec)
    if not spec.user and not spec.groups:
        raise errors.Invalid(
            "SubjectAccessReview is invalid",
            [
                errors.Cause(
                    "spec.user",
                    "at least one of user or group must be specified",
                    "FieldValueRequired",
                )
            ],
        )
    user = _types.UserInfo(name=spec.user, uid=spec.uid, groups=spec.groups, extra=spec.extra)
    request = spec.resource_attributes or spec.non_resource_attributes
    assert request is not None
    allowed, reason = evaluator.decide(user, request)
    evaluation_error = "" if allowed else reason.removeprefix("RBAC: ")
    return SubjectAccessReviewStatus(
        allowed=allowed, reason=reason if allowed else "", evaluation_error=evaluation_error
    )


def self_subject_access_review(
    evaluator: _rbac_index.RBACEvaluator,
    user: _types.UserInfo | None,
    request: _rbac.ResourceAttributes | _rbac.NonResourceAttributes,
) -> SubjectAccessReviewStatus:
    """Answer a SelfSubjectAccessReview: may the requesting ``user`` make ``request``?"""
    allowed, reason = evaluator.decide(user, request)
    evaluation_error = "" if allowed else reason.removeprefix("RBAC: ")
    return SubjectAccessReviewStatus(
        allowed=allowed, reason=reason if allowed else "", evaluation_error=evaluation_error
    )


def _resource_rule(rule: _misc.PolicyRule) -> ResourceRule:
    return ResourceRule(
        verbs=tuple(rule.verbs),
        api_groups=tuple(rule.api_groups),
        resources=tuple(rule.resources),
        resource_names=tuple(rule.resource_names),
    )


def rules_for(
    policy: _rbac.Policy, user: _types.UserInfo | None, namespace: str
) -> SubjectRulesReviewStatus:
    """Every rule ``user`` has in ``namespace`` (``""``: cluster-wide rules only)."""
    who = _rbac.effective_user(user)
    resource_rules: list[ResourceRule] = []
    non_resource_rules: list[NonResourceRule] = []
    problems: list[str] = []
    for item in _rbac.visit_rules(policy, who, namespace):
        if isinstance(item, str):
            problems.append(item)
            continue
        _, rule = item
        if rule.resources:
            resource_rule = _resource_rule(rule)
            if resource_rule not in resource_rules:
                resource_rules.append(resource_rule)
        if rule.non_resource_urls:
            non_resource_rule = NonResourceRule(
                verbs=tuple(rule.verbs), non_resource_urls=tuple(rule.non_resource_urls)
            )
            if non_resource_rule not in non_resource_rules:
                non_resource_rules.append(non_resource_rule)
    error = _rbac.denial_reason(problems).removeprefix("RBAC: ")
    return SubjectRulesReviewStatus(
        resource_rules=tuple(resource_rules),
        non_resource_rules=tuple(non_resource_rules),
        incomplete=bool(problems),
        evaluation_error=error,
    )
