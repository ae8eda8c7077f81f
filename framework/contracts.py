"""Contracts: a Protocol or ABC a component provides, checked before anything starts."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from framework.errors import ContractViolationError


def contract_methods(contract: type) -> dict[str, Any]:
    """The public methods a contract requires (Protocol members or ABC methods)."""
    methods: dict[str, Any] = {}
    for klass in reversed(contract.__mro__):
        if (
            klass in (object,)
            or klass.__module__ == "typing"
            or klass.__name__ in ("Protocol", "ABC", "Generic")
        ):
            continue
        for name, member in vars(klass).items():
            if not name.startswith("_") and callable(member):
                methods[name] = member
    return methods


def violations(component: str, cls: type, contract: type) -> Iterator[str]:
    """Why ``cls`` does not satisfy ``contract``: one line per missing or mismatched method."""
    for name, expected in contract_methods(contract).items():
        actual = getattr(cls, name, None)
        head = f"component '{component}' ({cls.__qualname__}) violates contract {contract.__qualname__}:"
        if actual is None or not callable(actual):
            yield f"{head} method '{name}' is missing"
            continue
        if inspect.iscoroutinefunction(expected) != inspect.iscoroutinefunction(actual):
            want = "async" if inspect.iscoroutinefunction(expected) else "sync"
            yield f"{head} method '{name}' must be {want}"
            continue
        problem = _signature_problem(expected, actual)
        if problem:
            yield f"{head} method '{name}' {problem}"


def check_contract(component: str, cls: type, contract: type) -> None:
    problems = list(violations(component, cls, contract))
    if problems:
        raise ContractViolationError("; ".join(problems))


def _signature_problem(expected: Any, actual: Any) -> str | None:
    """The implementation must accept every parameter the contract passes, and require no more."""
    try:
        want = inspect.signature(expected)
        have = inspect.signature(actual)
    except (TypeError, ValueError):
        return None
    have_params = list(have.parameters.values())
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in have_params)
    takes_var_pos = any(p.kind is p.VAR_POSITIONAL for p in have_params)
    names = {p.name for p in have_params}
    for param in want.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in names:
            continue
        if not (takes_var_kw or (takes_var_pos and param.kind is param.POSITIONAL_ONLY)):
            return f"lacks parameter '{param.name}' (contract signature {want})"
    wanted = set(want.parameters)
    for param in have_params:
        required = param.default is param.empty and param.kind not in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
        )
        if required and param.name not in wanted:
            return f"requires extra parameter '{param.name}' (contract signature {want})"
    return None


def is_contract(annotation: Any) -> bool:
    """Whether a constructor annotation names a contract (a Protocol or an ABC)."""
    return inspect.isclass(annotation) and (
        getattr(annotation, "_is_protocol", False) or inspect.isabstract(annotation)
    )
