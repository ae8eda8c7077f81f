"""The ``metrics`` service: a component's own counters, gauges and histograms.

A constructor that asks for ``metrics`` gets a ``ComponentMetrics``. Its ``counter``, ``gauge``
and ``histogram`` make prometheus-client metrics named ``framework_component_<name>``, with a
``component`` label the framework fills in. They live in the App's own registry (never
prometheus-client's global one, so two apps in one process never mix) for as long as the App,
reloads included: a component rebuilt by a reload or a restart registers the same name again
and gets the same metric back, values kept. Two components registering one name share the
family, each with its own ``component`` value. Every name and label is checked when it is
registered, and an error names the component, the metric and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from framework.errors import MetricError

PREFIX = "framework_component_"
COMPONENT_LABEL = "component"

Kind = Literal["counter", "gauge", "histogram"]

# The framework's own families under PREFIX (the admin API's /metrics yields them): a component
# may take neither these names nor one whose series would collide with theirs.
FRAMEWORK_METRICS: Mapping[str, Kind] = {
    "health_status": "gauge",
    "restarts": "counter",
    "restart_streak": "gauge",
    "state": "gauge",
}

# The series names a family of each kind writes (prometheus-client's own list, for our three).
_SERIES_SUFFIXES: Mapping[Kind, tuple[str, ...]] = {
    "counter": ("", "_total", "_created"),
    "gauge": ("",),
    "histogram": ("", "_bucket", "_count", "_sum", "_created"),
}
# The classic Prometheus name; colons are left to recording rules.
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NAME_RULE = "use letters, digits and underscores, not starting with a digit"

MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)


class Labelled(Generic[MetricT]):
    """A component's metric with labels of its own: ``labels(...)`` picks one series.

    Give the values of the declared labels only (positionally, in order, or by name): the
    ``component`` label is filled in.
    """

    __slots__ = ("family", "component", "labelnames")

    def __init__(self, family: MetricT, component: str, labelnames: tuple[str, ...]) -> None:
        self.family: MetricT = family
        self.component, self.labelnames = component, labelnames

    def labels(self, *values: Any, **named: Any) -> MetricT:
        """The series for these label values (made on first use)."""
        if values:
            return self.family.labels(self.component, *values)
        return self.family.labels(**{COMPONENT_LABEL: self.component}, **named)

    def remove(self, *values: Any) -> None:
        """Forget the series for these label values."""
        self.family.remove(self.component, *values)

    def __repr__(self) -> str:
        return f"Labelled({self.family._name!r}, component={self.component!r}, labels={self.labelnames})"


@dataclass(frozen=True, slots=True)
class _Family:
    kind: Kind
    labelnames: tuple[str, ...]  # the component's own, without COMPONENT_LABEL
    buckets: tuple[float, ...] | None
    metric: Any  # the prometheus-client parent, labelled by COMPONENT_LABEL first
    owner: str  # the component that registered it first


class AppMetrics:
    """One app's registry of component metrics; lives as long as the App."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._families: dict[str, _Family] = {}
        # Every series name taken, and by what (to say whom a new name collides with).
        self._series: dict[str, str] = {
            series: f"the framework's own {kind} {PREFIX}{name}"
            for name, kind in FRAMEWORK_METRICS.items()
            for series in _series(kind, PREFIX + name)
        }
        self._handed: dict[tuple[str, str, bool], Any] = {}
        self._views: dict[str, ComponentMetrics] = {}

    def for_component(self, component: str) -> ComponentMetrics:
        """The ``metrics`` service of one component."""
        view = self._views.get(component)
        if view is None:
            view = self._views[component] = ComponentMetrics(self, component)
        return view

    def register(
        self,
        component: str,
        kind: Kind,
        name: str,
        description: str,
        labels: Sequence[str] | None,
        buckets: Sequence[float] | None = None,
    ) -> Any:
        """The metric ``component`` asks for: made on first use, the same one ever after."""
        full = PREFIX + _checked_name(component, kind, name)
        bounds = _bounds(component, kind, name, buckets)
        family = self._families.get(full)
        if family is None:
            family = self._new_family(component, kind, name, full, description, labels, bounds)
        else:
            self._check_same(component, name, family, kind, labels, bounds)
        key = (component, full, labels is None)
        if key in self._handed:
            return self._handed[key]
        own = family.labelnames
        handed = family.metric.labels(component) if labels is None else Labelled(family.metric, component, own)
        self._handed[key] = handed
        return handed

    def _new_family(
        self,
        component: str,
        kind: Kind,
        name: str,
        full: str,
        description: str,
        labels: Sequence[str] | None,
        bounds: tuple[float, ...] | None,
    ) -> _Family:
        own = _checked_labels(component, kind, name, labels or ())
        for series in _series(kind, full):
            if series in self._series:
                raise MetricError(
                    component, name,
                    f"its series {series} clashes with {self._series[series]}; choose another name",
                )
        options: dict[str, Any] = {"registry": self.registry}  # never prometheus-client's global one
        if bounds is not None:
            options["buckets"] = bounds
        cls = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}[kind]
        try:
            metric = cls(full, description, (COMPONENT_LABEL, *own), **options)
        except ValueError as exc:  # e.g. unsorted buckets; a clash the checks above let through
            raise MetricError(component, name, f"prometheus-client refused it: {exc}") from exc
        family = _Family(kind, own, bounds, metric, component)
        self._families[full] = family
        for series in _series(kind, full):
            self._series[series] = f"{kind} {full} of component '{component}'"
        return family

    def _check_same(
        self,
        component: str,
        name: str,
        family: _Family,
        kind: Kind,
        labels: Sequence[str] | None,
        bounds: tuple[float, ...] | None,
    ) -> None:
        """One name is one metric: a second registration must describe the same one."""
        if (kind, tuple(labels or ()), bounds) != (family.kind, family.labelnames, family.buckets):
            by = "this component" if family.owner == component else f"component '{family.owner}'"
            own = f"labels {list(family.labelnames)}" if family.labelnames else "no labels of its own"
            shown = f" and buckets {list(family.buckets)}" if family.buckets else ""
            raise MetricError(
                component, name,
                f"{PREFIX}{_base(kind, name)} is already a {family.kind} with {own}{shown}"
                f" (registered by {by}); register it the same way, or choose another name",
            )


class ComponentMetrics:
    """A component's ``metrics`` service: its own Prometheus metrics on the app's registry.

    ``name`` is prefixed with ``framework_component_``; the series get a ``component`` label
    holding the component's name. Without ``labels`` you get the metric itself (``inc``,
    ``set``, ``observe``, ``time``...); with ``labels`` a ``Labelled`` to call ``labels(...)`` on.
    Asking again for a name you registered returns the same metric, values kept.
    """

    def __init__(self, app: AppMetrics, component: str) -> None:
        self._app, self.component = app, component

    @overload
    def counter(self, name: str, description: str = "") -> Counter: ...

    @overload
    def counter(self, name: str, description: str = "", *, labels: Sequence[str]) -> Labelled[Counter]: ...

    def counter(self, name: str, description: str = "", *, labels: Sequence[str] | None = None) -> Any:
        """A counter (only goes up); a trailing ``_total`` is written once, as Prometheus wants."""
        return self._app.register(self.component, "counter", name, description, labels)

    @overload
    def gauge(self, name: str, description: str = "") -> Gauge: ...

    @overload
    def gauge(self, name: str, description: str = "", *, labels: Sequence[str]) -> Labelled[Gauge]: ...

    def gauge(self, name: str, description: str = "", *, labels: Sequence[str] | None = None) -> Any:
        """A gauge (a value that goes up and down)."""
        return self._app.register(self.component, "gauge", name, description, labels)

    @overload
    def histogram(
        self, name: str, description: str = "", *, buckets: Sequence[float] | None = None
    ) -> Histogram: ...

    @overload
    def histogram(
        self, name: str, description: str = "", *, labels: Sequence[str], buckets: Sequence[float] | None = None
    ) -> Labelled[Histogram]: ...

    def histogram(
        self,
        name: str,
        description: str = "",
        *,
        labels: Sequence[str] | None = None,
        buckets: Sequence[float] | None = None,
    ) -> Any:
        """A histogram (``observe`` values, or ``time()`` a block); prometheus-client's buckets by default."""
        return self._app.register(self.component, "histogram", name, description, labels, buckets)

    def __repr__(self) -> str:
        return f"ComponentMetrics({self.component!r})"


def _base(kind: Kind, name: str) -> str:
    # prometheus-client names a counter without its `_total` and writes the suffix itself.
    return name[: -len("_total")] if kind == "counter" and name.endswith("_total") else name


def _checked_name(component: str, kind: Kind, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MetricError(component, str(name), f"not a valid Prometheus metric name: {_NAME_RULE}{_like(name)}")
    base = _base(kind, name)
    if not base:
        raise MetricError(component, name, "the name is empty once its '_total' is set aside")
    return base


def _checked_labels(component: str, kind: Kind, name: str, labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise MetricError(component, name, f"labels must be a list of names, got the string {labels!r}")
    own = tuple(labels)
    for label in own:
        if label == COMPONENT_LABEL:
            problem = "the label 'component' is the framework's (it holds the component's name); drop it"
        elif not isinstance(label, str) or not _NAME.fullmatch(label):
            problem = f"label {label!r} is not a valid Prometheus label name: {_NAME_RULE}"
        elif label.startswith("__"):
            problem = f"label {label!r}: names starting with '__' are reserved by Prometheus"
        elif kind == "histogram" and label == "le":
            problem = "label 'le' is a histogram's bucket bound; choose another label name"
        elif own.count(label) > 1:
            problem = f"label {label!r} is listed twice"
        else:
            continue
        raise MetricError(component, name, problem)
    return own


def _like(name: object) -> str:
    """A valid name close to ``name``, as a hint."""
    if not isinstance(name, str) or not name:
        return ""
    fixed = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return f" (like '{'_' + fixed if fixed[0].isdigit() else fixed}')"


def _bounds(component: str, kind: Kind, name: str, buckets: Sequence[float] | None) -> tuple[float, ...] | None:
    """A histogram's bucket bounds as prometheus-client keeps them (ending with +Inf), to compare."""
    if kind != "histogram":
        return None
    try:
        bounds = [float(bound) for bound in (Histogram.DEFAULT_BUCKETS if buckets is None else buckets)]
    except (TypeError, ValueError) as exc:
        raise MetricError(component, name, f"buckets must be a list of numbers, got {buckets!r}") from exc
    if not bounds or bounds[-1] != float("inf"):
        bounds.append(float("inf"))
    return tuple(bounds)


def _series(kind: Kind, full: str) -> list[str]:
    return [full + suffix for suffix in _SERIES_SUFFIXES[kind]]
