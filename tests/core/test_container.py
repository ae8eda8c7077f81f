"""Wiring: constructor parameters checked before anything is built, then one provider each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from framework.component import ComponentSpec
from framework.container import build_container, rebuild_container, wiring_problems
from framework.errors import ContractViolationError, UnknownParameterError
from framework.graph import Graph, build_graph


class Quoter(Protocol):
    async def quote(self, symbol: str) -> float: ...


class Base:
    def start(self) -> None: ...

    def stop(self) -> None: ...


class Db(Base):
    def __init__(self, config: Mapping[str, Any], name: str) -> None:
        self.config, self.name = config, name


class Api(Base):
    def __init__(self, db: Db, config: Mapping[str, Any], logger: Any = None) -> None:
        self.db, self.config, self.logger = db, config, logger


class Greedy(Base):
    """Takes whatever it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class WantsCache(Base):
    def __init__(self, cache: Any, retries: int = 3) -> None:
        self.cache = cache


class Feed(Base):
    provides = (Quoter,)

    async def quote(self, symbol: str) -> float:
        return 1.0


class SyncFeed(Base):
    provides = (Quoter,)

    def quote(self, symbol: str) -> float:  # sync where the contract is async
        return 1.0


class Trader(Base):
    def __init__(self, feed: Quoter) -> None:
        self.feed = feed


def wiring(entries: Mapping[str, tuple[type, Mapping[str, Any]]]) -> tuple[dict[str, ComponentSpec], dict[str, type], Graph]:
    """Specs, classes and graph from ``name=(class, entry)``."""
    specs = {name: ComponentSpec.from_entry(name, {"class": "x.Y", **entry}, {}) for name, (_, entry) in entries.items()}
    classes = {name: cls for name, (cls, _) in entries.items()}
    graph, problems = build_graph(specs, dict.fromkeys(specs))
    assert problems == []
    return specs, classes, graph


def test_parameters_matching_dependencies_and_services_are_fine() -> None:
    """Dependencies by name, framework services, defaults and **kwargs raise no problem."""
    wired = wiring(
        {
            "db": (Db, {}),
            "api": (Api, {"depends_on": ["db"]}),
            "any": (Greedy, {"depends_on": ["api"]}),
        }
    )
    assert wiring_problems(*wired) == []


def test_a_parameter_matching_no_dependency_is_reported() -> None:
    """A constructor parameter that names no dependency and no service is an error naming both."""
    problems = wiring_problems(*wiring({"db": (Db, {}), "cacheuser": (WantsCache, {"depends_on": ["db"]})}))
    assert [type(p) for p in problems] == [UnknownParameterError]
    assert str(problems[0]) == (
        "components.cacheuser: constructor parameter 'cache' of WantsCache matches no dependency"
        " (depends_on: db) and no framework service (config, name, logger, bus, tasks, health, resilience, metrics, app)"
    )


def test_a_missing_dependency_of_each_component_is_reported_at_once() -> None:
    """Every component's unmatched parameters are reported together; with no depends_on, 'none'."""
    problems = wiring_problems(*wiring({"api": (Api, {}), "user": (WantsCache, {})}))
    assert [str(p).split(":")[0] for p in problems] == ["components.api", "components.user"]
    assert "(depends_on: none)" in str(problems[0])


def test_a_class_violating_the_contract_it_provides_is_reported() -> None:
    """A class that declares `provides` but breaks the contract (sync for async) is reported."""
    problems = wiring_problems(*wiring({"feed": (SyncFeed, {})}))
    assert [type(p) for p in problems] == [ContractViolationError]
    assert str(problems[0]) == (
        "component 'feed' (SyncFeed) violates contract Quoter: method 'quote' must be async"
    )
    assert wiring_problems(*wiring({"feed": (Feed, {})})) == []


def test_a_dependency_annotated_with_a_contract_must_satisfy_it() -> None:
    """A parameter typed with a Protocol checks the dependency's class, naming who requires it."""
    problems = wiring_problems(*wiring({"feed": (Db, {}), "trader": (Trader, {"depends_on": ["feed"]})}))
    assert [type(p) for p in problems] == [ContractViolationError]
    assert str(problems[0]) == (
        "component 'feed' (Db) violates contract Quoter: method 'quote' is missing (required by 'trader')"
    )
    assert wiring_problems(*wiring({"feed": (Feed, {}), "trader": (Trader, {"depends_on": ["feed"]})})) == []


def test_build_container_injects_dependencies_config_and_services() -> None:
    """Each provider builds one instance, handed its config, the services it names and its dependencies."""
    specs, classes, graph = wiring({"db": (Db, {"config": {"url": "x"}}), "api": (Api, {"depends_on": ["db"]})})
    asked: list[str] = []

    def logger(spec: ComponentSpec) -> str:
        asked.append(spec.name)
        return f"logger of {spec.name}"

    providers = build_container(specs, classes, graph, {"logger": logger, "name": lambda spec: spec.name})
    api, db = providers["api"](), providers["db"]()
    assert api.db is db and providers["db"]() is db  # one instance each
    assert db.config == {"url": "x"} and db.name == "db"
    assert api.logger == "logger of api"
    assert asked == ["api"]  # only who asks for a service gets one


def test_kwargs_receives_every_dependency_and_config() -> None:
    """A constructor taking **kwargs gets its dependencies and config, but no services it did not name."""
    specs, classes, graph = wiring({"db": (Db, {}), "any": (Greedy, {"depends_on": ["db"], "config": {"n": 1}})})
    providers = build_container(specs, classes, graph, {"name": lambda spec: spec.name})
    built = providers["any"]()
    assert set(built.kwargs) == {"db", "config"}
    assert built.kwargs["db"] is providers["db"]() and built.kwargs["config"] == {"n": 1}


def test_rebuild_keeps_running_instances_and_builds_the_rest_on_them() -> None:
    """On reload, kept components are the running objects; rebuilt ones receive them."""
    specs, classes, graph = wiring({"db": (Db, {}), "api": (Api, {"depends_on": ["db"], "config": {"v": 2}})})
    running_db = Db({"url": "old"}, "db")
    old_api = Api(running_db, {"v": 1})
    providers = rebuild_container(specs, classes, graph, {}, {"db": running_db})
    assert providers["db"]() is running_db
    api = providers["api"]()
    assert api is not old_api and api.db is running_db and api.config == {"v": 2}


class NeedsBus(Base):
    def __init__(self, bus: Any) -> None:
        self.bus = bus


def test_a_dependency_named_like_a_framework_service_is_reported() -> None:
    """A component named 'bus' that another takes as parameter `bus`: reported, or injected as asked."""
    specs, classes, graph = wiring({"bus": (Db, {}), "user": (NeedsBus, {"depends_on": ["bus"]})})
    problems = wiring_problems(specs, classes, graph)
    if problems:
        assert len(problems) == 1 and "'bus'" in str(problems[0])
        return
    providers = build_container(specs, classes, graph, {"bus": lambda spec: "the framework bus"})
    assert isinstance(providers["user"]().bus, Db)
