"""The `metrics` service: names, labels, sharing and clashes, on a registry each app owns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from framework import ComponentMetrics, Labelled, MetricError
from framework.metrics import AppMetrics


def scrape(metrics: AppMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_registering_a_name_again_returns_the_same_metric() -> None:
    """A component rebuilt (restart, reload) asks again and gets the metric it had, value kept."""
    metrics = AppMetrics()
    first = metrics.for_component("orders").counter("fills_total", "Fills")
    first.inc(2)
    again = metrics.for_component("orders").counter("fills", "Fills")  # `_total` is written once either way
    assert again is first
    assert metrics.for_component("orders").histogram("seconds", buckets=[1, 2]) is metrics.for_component(
        "orders"
    ).histogram("seconds", buckets=[1.0, 2.0, float("inf")])
    assert 'framework_component_fills_total{component="orders"} 2.0' in scrape(metrics)


def test_two_components_share_a_family_with_their_own_component_label() -> None:
    """One family, one series per component; HELP and TYPE appear once."""
    metrics = AppMetrics()
    metrics.for_component("a").gauge("depth", "Depth").set(1)
    metrics.for_component("b").gauge("depth", "Depth").set(2)
    text = scrape(metrics)
    assert 'framework_component_depth{component="a"} 1.0' in text
    assert 'framework_component_depth{component="b"} 2.0' in text
    assert text.count("# TYPE framework_component_depth gauge") == 1


def test_labels_of_its_own_take_values_by_position_or_name() -> None:
    """``labels(...)`` gets only the component's own labels; `component` is filled in."""
    metrics = AppMetrics()
    fills = metrics.for_component("orders").counter("fills", "Fills", labels=["side", "venue"])
    assert isinstance(fills, Labelled)
    fills.labels("buy", "x").inc()
    fills.labels(venue="y", side="sell").inc(3)
    text = scrape(metrics)
    assert 'framework_component_fills_total{component="orders",side="buy",venue="x"} 1.0' in text
    assert 'framework_component_fills_total{component="orders",side="sell",venue="y"} 3.0' in text


def test_each_app_has_its_own_registry_and_none_uses_the_global_one() -> None:
    """Two apps in one process never mix, and prometheus-client's REGISTRY stays untouched."""
    one, two = AppMetrics(), AppMetrics()
    one.for_component("c").counter("ticks").inc()
    two.for_component("c").counter("ticks").inc(5)
    assert 'framework_component_ticks_total{component="c"} 1.0' in scrape(one)
    assert 'framework_component_ticks_total{component="c"} 5.0' in scrape(two)
    assert "framework_component" not in generate_latest(REGISTRY).decode()


def test_the_service_is_what_a_constructor_gets() -> None:
    """``for_component`` returns the component's ComponentMetrics, the same one each time."""
    metrics = AppMetrics()
    assert isinstance(metrics.for_component("x"), ComponentMetrics)
    assert metrics.for_component("x") is metrics.for_component("x")


@pytest.mark.parametrize(
    ("register", "problem"),
    [
        (lambda m: m.counter("fills-total"), "metric 'fills-total': not a valid Prometheus metric name: use "
         "letters, digits and underscores, not starting with a digit (like 'fills_total')"),
        (lambda m: m.gauge("1st"), "(like '_1st')"),
        (lambda m: m.gauge("a:b"), "not a valid Prometheus metric name"),
        (lambda m: m.gauge("restarts_total"), "metric 'restarts_total': its series "
         "framework_component_restarts_total clashes with the framework's own counter framework_component_restarts"),
        (lambda m: m.counter("health_status"), "clashes with the framework's own gauge"),
        (lambda m: m.gauge("x", labels=["component"]), "the label 'component' is the framework's"),
        (lambda m: m.gauge("x", labels=["bad-label"]), "label 'bad-label' is not a valid Prometheus label name"),
        (lambda m: m.gauge("x", labels=["__x"]), "reserved by Prometheus"),
        (lambda m: m.gauge("x", labels=["a", "a"]), "label 'a' is listed twice"),
        (lambda m: m.gauge("x", labels="side"), "labels must be a list of names"),
        (lambda m: m.histogram("x", labels=["le"]), "label 'le' is a histogram's bucket bound"),
        (lambda m: m.histogram("x", buckets=[2, 1]), "prometheus-client refused it: Buckets not in sorted order"),
        (lambda m: m.histogram("x", buckets=["fast"]), "buckets must be a list of numbers"),
    ],
)
def test_a_bad_name_or_label_names_the_component_and_the_metric(register: object, problem: str) -> None:
    """Each mistake is refused when registered, with the component, the metric and the fix."""
    with pytest.raises(MetricError) as caught:
        register(AppMetrics().for_component("orders"))  # type: ignore[operator]
    assert str(caught.value).startswith("component 'orders', metric ")
    assert problem in str(caught.value)
    assert caught.value.component == "orders"


def test_one_name_is_one_metric_across_components() -> None:
    """Another component may share a name only as the same type, labels and buckets."""
    metrics = AppMetrics()
    metrics.for_component("a").counter("jobs", labels=["queue"])
    with pytest.raises(MetricError) as caught:
        metrics.for_component("b").gauge("jobs")
    assert str(caught.value) == (
        "component 'b', metric 'jobs': framework_component_jobs is already a counter with labels ['queue']"
        " (registered by component 'a'); register it the same way, or choose another name"
    )
    with pytest.raises(MetricError, match="registered by this component"):
        metrics.for_component("a").counter("jobs", labels=["lane"])
    metrics.for_component("a").histogram("wait", buckets=[1])
    with pytest.raises(MetricError, match=r"and buckets \[1.0, inf\]"):
        metrics.for_component("b").histogram("wait")


def test_a_name_whose_series_collide_with_another_family_is_refused() -> None:
    """A gauge `wait_count` would write the series of histogram `wait`: refused, naming the owner."""
    metrics = AppMetrics()
    metrics.for_component("a").histogram("wait")
    with pytest.raises(MetricError, match="clashes with histogram framework_component_wait of component 'a'"):
        metrics.for_component("b").gauge("wait_count")


def test_the_readme_example_registers_what_it_says() -> None:
    """The README's three lines work as written, and the scrape shows the line it promises."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("`metrics` registers the component's own", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    code, promised = block.split("# GET /metrics -> ")
    namespace: dict[str, Any] = {}
    exec(f"class Alerts:\n{code}", namespace)
    metrics = AppMetrics()
    alerts = namespace["Alerts"](metrics.for_component("alerts"))
    alerts.sent.inc()
    alerts.queued.labels("#desk").set(3)
    alerts.latency.observe(0.4)
    assert promised.strip() in scrape(metrics)
