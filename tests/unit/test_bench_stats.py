"""The benchmark harness's arithmetic: percentiles, medians, ratios, targets (no timing)."""

from __future__ import annotations

import json
import math

import pytest
from shared.settings import DEFAULT_PARTITIONS

from bench.run import transport_partitions
from bench.stats import (
    TARGETS,
    clean,
    dig,
    distribution,
    evaluate,
    figure,
    median,
    paired_ratios,
    percentile,
    ratio,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 10
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)


def test_percentile_of_unsorted_and_single_values() -> None:
    assert percentile([5, 1, 3], 50) == 3
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1], 101)


def test_median_ignores_missing_runs() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([1, math.nan, 3]) == 2
    assert math.isnan(median([]))


def test_ratio_and_paired_ratios() -> None:
    assert ratio(3, 4) == 0.75
    assert math.isnan(ratio(1, 0))
    assert math.isnan(ratio(math.nan, 2))
    assert paired_ratios([2, 3, 4], [4, 3, 2]) == [0.5, 1.0, 2.0]


def test_distribution_of_samples() -> None:
    samples = [float(i) for i in range(1, 101)]
    dist = distribution(samples)
    assert dist["count"] == 100
    assert dist["p50"] == pytest.approx(50.5)
    assert dist["p99"] == pytest.approx(99.01)
    assert dist["max"] == 100
    assert dist["min"] == 1
    assert math.isnan(distribution([])["p99"])


def test_figure_keeps_every_run_and_the_median() -> None:
    fig = figure([3, 1, 2], "items/s", of="note")
    assert fig == {"median": 2.0, "runs": [3.0, 1.0, 2.0], "unit": "items/s", "of": "note"}


def test_targets_pass_miss_and_not_measured() -> None:
    by_key = {t.key: t for t in TARGETS}
    assert by_key["pipeline_items_per_s"].status(3000) == "pass"
    assert by_key["pipeline_items_per_s"].status(2999.9) == "miss"
    assert by_key["latency_p99_ms"].status(15) == "pass"
    assert by_key["latency_p99_ms"].status(15.1) == "miss"
    assert by_key["memory_ratio"].status(None) == "not measured"
    assert by_key["memory_ratio"].status(math.nan) == "not measured"


def test_dig_reads_medians_and_plain_numbers() -> None:
    tree = {"a": {"b": {"median": 4.0, "runs": [4.0]}, "c": 2, "flag": True}}
    assert dig(tree, "a.b") == 4.0
    assert dig(tree, "a.c") == 2.0
    assert dig(tree, "a.flag") is None
    assert dig(tree, "a.missing") is None


def test_evaluate_gives_every_target_with_its_value() -> None:
    figures = {
        "pipeline": {"items_per_s": figure([3500, 2500, 3100], "items/s")},
        "gateway": {
            "hot_page_ratio": figure([0.9], "x"),
            "endpoints": {"deep_varied": {"rps": figure([900], "req/s")}},
        },
    }
    verdicts = {v["key"]: v for v in evaluate(figures)}
    assert set(verdicts) == {t.key for t in TARGETS}
    assert verdicts["pipeline_items_per_s"]["value"] == 3100
    assert verdicts["pipeline_items_per_s"]["status"] == "pass"
    assert verdicts["hot_page_ratio"]["status"] == "pass"
    assert verdicts["deep_page_rps"]["status"] == "miss"
    assert verdicts["latency_p99_ms"]["status"] == "not measured"
    assert verdicts["latency_p99_ms"]["value"] is None
    for verdict in verdicts.values():
        assert {
            "key",
            "description",
            "target",
            "op",
            "threshold",
            "unit",
            "value",
            "status",
        } <= set(verdict)


def test_clean_makes_json_without_nan() -> None:
    data = {"a": math.nan, "b": [1.0, math.inf, {"c": 2}], "d": (1, 2)}
    text = json.dumps(clean(data), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [1.0, None, {"c": 2}], "d": [1, 2]}


def test_the_transport_runs_n_1_and_the_default_n_whatever_else_is_asked() -> None:
    assert transport_partitions("16,4,16") == list(dict.fromkeys([1, DEFAULT_PARTITIONS, 16, 4]))
    assert transport_partitions("") == list(dict.fromkeys([1, DEFAULT_PARTITIONS]))


def test_the_issue_13_targets_read_the_ratios_at_n_1_and_the_default_n() -> None:
    figures = {"transport": {"noop_ratio": {"median": 0.56}, "noop_default_ratio": 0.54}}
    verdicts = {v["key"]: v["status"] for v in evaluate(figures)}
    assert verdicts["transport_noop_ratio_n1"] == "pass"
    assert verdicts["transport_noop_ratio_default_n"] == "miss"
