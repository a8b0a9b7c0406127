"""The service registry: how modules (and the core) find what another module offers.

A service is a typed interface (a Protocol, see pysips.core.services) under a `Service` key. A
module names the keys it offers in `ModuleExports.provides` and registers its implementation from
its `init` with `ictx.provide(KEY, impl)`; a module that needs one names it in `requires` (load
error when no loaded module provides it, init order after the provider) or `uses` (optional: init
order only). At run time everybody asks `process.services.get(KEY)` -- never `process.modules` by
another module's name and never `hasattr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class Service(Generic[T]):
    """A key: `TRANSACTIONS: Service[TransactionService] = Service("transactions", "tm")`.

    `module` is the OpenSIPS module that offers it, named in the load error when none does
    ("module acc depends on module tm, but it was not loaded!"). Keys compare by identity.
    """

    name: str
    module: str
    doc: str = ""

    def __repr__(self) -> str:
        return f"<service {self.name} ({self.module})>"


class ServiceMissing(LookupError):
    """A required service has no provider in this process."""


class ServiceRegistry:
    """The providers of one process, by key."""

    __slots__ = ("_impls", "_owners")

    def __init__(self) -> None:
        self._impls: dict[Service[Any], object] = {}
        self._owners: dict[Service[Any], str] = {}

    def provide(self, service: Service[T], impl: T, module: str) -> None:
        owner = self._owners.get(service)
        if owner is not None and owner != module:
            raise ValueError(f"service {service.name} is provided by {owner} already, not by {module}")
        self._impls[service] = impl
        self._owners[service] = module

    def get(self, service: Service[T]) -> T | None:
        """The provider, or None when no loaded module offers it (for optional services)."""
        return cast("T | None", self._impls.get(service))

    def require(self, service: Service[T]) -> T:
        impl = self._impls.get(service)
        if impl is None:
            raise ServiceMissing(f"no module provides {service.name} (load module {service.module})")
        return cast("T", impl)

    def provider(self, service: Service[Any]) -> str | None:
        """The name of the module that registered it."""
        return self._owners.get(service)

    def provided_by(self, module: str) -> list[Service[Any]]:
        """The keys a module registered."""
        return [svc for svc, owner in self._owners.items() if owner == module]

    def __contains__(self, service: object) -> bool:
        return service in self._impls
