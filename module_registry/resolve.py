"""Dependency resolution for an install: each dependency met by one of the company's installations,
or by the newest approved version it may see, installed too; else refused with the unmet constraint.

Module versions are semver; constraints are PEP 440 specifiers, compared with ``packaging``.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncSession

from module_registry.auth import Principal
from module_registry.catalog import visible_to
from module_registry.errors import Conflict
from module_registry.tables import Installation, Module


def satisfies(version: str, constraint: str) -> bool:
    """Whether a semver version meets a PEP 440 specifier (prereleases count)."""
    try:
        return SpecifierSet(constraint).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _order(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


async def installed_versions(session: AsyncSession, company_id: str) -> dict[str, str]:
    """The company's installed module names and their versions."""
    query = select(Module.name, Module.version).join(Installation, Installation.module_id == Module.id)
    rows = await session.execute(query.where(Installation.company_id == company_id))
    return {name: version for name, version in rows.tuples()}


async def _candidate(
    session: AsyncSession, principal: Principal, name: str, constraint: str
) -> Module | None:
    query = select(Module).where(
        Module.name == name, Module.status == "approved", Module.deleted == false(), visible_to(principal)
    )
    matching = [row for row in (await session.scalars(query)).all() if satisfies(row.version, constraint)]
    return max(matching, key=lambda row: _order(row.version), default=None)


async def plan(session: AsyncSession, company: Principal, root: Module) -> list[Module]:
    """The modules to install for ``company`` (what it sees), dependencies first, ``root`` last;
    409 naming an unmet constraint."""
    principal = company
    installed = await installed_versions(session, company.company_id)
    chosen: dict[str, Module] = {}
    await _visit(session, principal, root, installed, chosen, (root.name,))
    chosen[root.name] = root
    return list(chosen.values())


async def _visit(
    session: AsyncSession,
    principal: Principal,
    module: Module,
    installed: dict[str, str],
    chosen: dict[str, Module],
    chain: tuple[str, ...],
) -> None:
    for dependency in module.manifest.get("dependencies") or []:
        name, constraint = dependency["name"], dependency.get("version") or ""
        need = f"{module.name} {module.version} needs {name}{constraint}"
        have = installed.get(name) or (chosen[name].version if name in chosen else None)
        if have is not None:
            if not satisfies(have, constraint):
                raise Conflict(
                    f"unmet dependency: {need}, but the company has {name} {have}", rule="dependency"
                )
            continue
        if name in chain:
            raise Conflict(
                f"unmet dependency: {need}, a cycle ({' -> '.join((*chain, name))})", rule="dependency"
            )
        candidate = await _candidate(session, principal, name, constraint)
        if candidate is None:
            raise Conflict(f"unmet dependency: {need}, and no approved version matches", rule="dependency")
        await _visit(session, principal, candidate, installed, chosen, (*chain, name))
        chosen[name] = candidate
