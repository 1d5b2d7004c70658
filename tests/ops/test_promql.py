"""The PromQL reader that the dashboard and alert checks rely on finds what a query reads."""

from __future__ import annotations

from promql import dashboard_expressions, selectors


def test_metric_names_and_their_matchers_are_found() -> None:
    expr = (
        'sum by (namespace, job) (rate(lead_router_outcomes_total{outcome="unroutable", '
        'job=~"$job"}[15m])) / sum without (profile) (rate(lead_router_outcomes_total[15m]))'
        " > 0.05 and on (job) up == 1"
    )
    assert selectors(expr) == {"lead_router_outcomes_total": {"outcome", "job"}, "up": set()}


def test_functions_keywords_durations_numbers_and_variables_are_not_metrics() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le) (rate(lead_router_processing_seconds_bucket"
        '{instance=~"${instance}"}[$__rate_interval] offset 1h))) * 1e3 unless '
        "deriv(sum(lead_router_consumer_lag)[15m:1m]) > bool 0 or absent(nothing_here)"
    )
    assert set(selectors(expr)) == {
        "lead_router_processing_seconds_bucket",
        "lead_router_consumer_lag",
        "nothing_here",
    }


def test_label_names_in_strings_are_not_metrics() -> None:
    assert selectors('label_replace(up, "dst", "$1", "src", "(.*)")') == {"up": set()}


def test_every_query_of_a_dashboard_is_visited() -> None:
    dashboard = {
        "panels": [
            {"title": "a", "targets": [{"expr": "metric_a"}]},
            {"type": "row", "panels": [{"title": "b", "targets": [{"expr": "metric_b"}]}]},
        ],
        "templating": {
            "list": [
                {"name": "job", "type": "query", "query": {"query": "label_values(metric_c, job)"}},
                {"name": "ds", "type": "datasource", "query": "prometheus"},
            ]
        },
    }
    names = [set(selectors(expr)) for _, expr in dashboard_expressions(dashboard)]
    assert names == [{"metric_a"}, {"metric_b"}, {"metric_c"}]
