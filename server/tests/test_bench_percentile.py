"""The provider benchmark's percentile helper (e2e/bench/provider.py): nearest rank."""

from types import ModuleType

import bench_support
import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return bench_support.load(bench_support.PROVIDER, "bench_provider_under_test")


def test_percentile_is_an_observed_sample_by_nearest_rank(bench: ModuleType) -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted
    assert bench.percentile(samples, 50) == 50.0
    assert bench.percentile(samples, 99) == 99.0
    assert bench.percentile(samples, 100) == 100.0


def test_percentile_of_few_samples_rounds_the_rank_up(bench: ModuleType) -> None:
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert bench.percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert bench.percentile([7.0], 1) == 7.0


def test_percentile_of_nothing_is_none(bench: ModuleType) -> None:
    assert bench.percentile([], 50) is None
