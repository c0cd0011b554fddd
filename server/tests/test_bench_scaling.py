"""The provider benchmark's backends and process counts (e2e/bench/provider.py, issue 14): which
configurations run, where each simulated client sends its requests among two instances, the figures
pooled per configuration and level, and the side-by-side report."""

from pathlib import Path
from types import ModuleType
from typing import Any

import bench_support
import pytest
from pg_support import SETTINGS, PostgresServer


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return bench_support.load(bench_support.PROVIDER, "bench_provider_scaling_under_test")


def test_configurations_are_chosen_by_key_in_the_order_given(bench: ModuleType) -> None:
    assert [c.key for c in bench.SCALING_CONFIGS] == ["sqlite", "pg", "pg-workers2", "pg-instances2"]
    chosen = bench.scaling_configs("pg-instances2,sqlite")
    assert [c.key for c in chosen] == ["pg-instances2", "sqlite"]
    assert [(c.database, c.workers, c.instances, c.processes) for c in chosen] == [
        ("postgresql", 1, 2, 2),
        ("sqlite", 1, 1, 1),
    ]
    assert bench.scaling_configs("pg-workers2")[0].processes == 2
    for wrong in ("mysql", "", "sqlite,sqlite", "sqlite,,pg-x"):
        with pytest.raises(bench.argparse.ArgumentTypeError):
            bench.scaling_configs(wrong)


def test_one_instance_takes_every_request(bench: ModuleType) -> None:
    assert {bench.instance_plan(index, 1) for index in range(64)} == {(0, 0)}


def test_two_instances_share_the_load_and_half_the_codes_cross(bench: ModuleType) -> None:
    plans = [bench.instance_plan(index, 2) for index in range(8)]
    assert plans == [(0, 1), (1, 0), (0, 0), (1, 1), (0, 1), (1, 0), (0, 0), (1, 1)]
    assert bench.instance_plan(0, 2) == (0, 1)  # one client: every code is redeemed at the other instance
    for count in (8, 64):
        plans = [bench.instance_plan(index, 2) for index in range(count)]
        assert sum(authorize == 0 for authorize, _ in plans) == count // 2
        assert sum(token == 0 for _, token in plans) == count // 2
        assert sum(authorize != token for authorize, token in plans) == count // 2


def test_a_crossing_client_has_a_second_connection_with_the_same_cookie_jar(bench: ModuleType) -> None:
    urls = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    clients = bench.routed_clients(urls, 4)
    assert [c.http.port for c in clients] == [9001, 9002, 9001, 9002]
    assert [c.token_http and c.token_http.port for c in clients] == [9002, 9001, None, None]
    assert [c.username for c in clients] == ["signin1", "signin2", "signin3", "signin4"]
    first = clients[0]
    assert first.token_http.local_address == first.http.local_address == "127.0.0.2"
    first.http.cookies["session"] = "x"
    assert first.token_http.cookies == {"session": "x"}
    assert all(c.token_http is None for c in bench.routed_clients(urls[:1], 3))


def _phase(server: str, concurrency: int, units: int, seconds: float, **extra: Any) -> dict[str, Any]:
    phase = {
        "round": 1,
        "server": server,
        "row": "silent",
        "concurrency": concurrency,
        "units": units,
        "seconds": seconds,
        "per_s": round(units / seconds, 1),
        "errors": 0,
        "error_kinds": {},
        "warmup_errors": 0,
        "warmup_error_kinds": {},
        "server_cpu_pct": 100.0,
        "client_cpu_pct": 20.0,
        "cpu_pressure_avg10_after": 40.0,
        "latency_ms": [float(n) for n in range(1, units + 1)],
        "token_ms": [n / 10 for n in range(1, units + 1)],
    }
    return {**phase, **extra}


def test_token_latency_and_database_cpu_are_pooled_over_the_rounds(bench: ModuleType) -> None:
    phases = [
        _phase("pg", 8, 100, 1.0, database_cpu_pct=50.0, cpu_pressure_avg10_after=30.0),
        {**_phase("pg", 8, 300, 1.0, database_cpu_pct=30.0), "round": 2},
    ]
    pooled = bench.summarize(phases, "pg", "silent", 8)
    assert pooled["per_s"] == 200.0
    assert pooled["token_p50_ms"] == 10.0  # 0.1..10 and 0.1..30 pooled: the 200th of 400 is the second 10.0
    assert pooled["token_p99_ms"] == 29.6
    assert pooled["database_cpu_pct"] == 40.0
    assert pooled["database_cpu_ms_per_unit"] == 2.0  # 0.5 s + 0.3 s of CPU for 400 flows
    assert pooled["server_cpu_ms_per_unit"] == 5.0
    assert pooled["cpu_pressure_avg10"] == [30.0, 40.0]
    sqlite = bench.summarize([_phase("sqlite", 8, 100, 1.0)], "sqlite", "silent", 8)
    assert "database_cpu_pct" not in sqlite


def _results(bench: ModuleType, phases: list[dict[str, Any]], failures: dict[str, str]) -> dict[str, Any]:
    configs = bench.SCALING_CONFIGS
    table = bench.scaling_table(phases, configs, (1, 8))
    for phase in phases:
        phase.pop("latency_ms")
        phase.pop("token_ms")
    return {
        "machine": {"cpu_count": 2, "cpu_pressure_avg10_before": 40.0, "cpu_pressure_avg10_after": 45.0},
        "settings": {
            "configs": [bench.dataclasses.asdict(c) for c in configs],
            "levels": [1, 8],
            "rounds": 1,
            "duration_s": 3.0,
            "warmup_s": 0.5,
            "db_pool": "8",
            "postgres_version": "15.18",
        },
        "table": table,
        "phases": phases,
        "failures": failures,
        "errors_total": sum(p["errors"] + p["warmup_errors"] for p in phases),
    }


def test_the_table_compares_each_configuration_with_the_first_at_each_level(bench: ModuleType) -> None:
    phases = [
        _phase("sqlite", 8, 400, 1.0, server_cpu_pct=120.0),
        _phase("pg", 8, 300, 1.0, server_cpu_pct=90.0, database_cpu_pct=30.0),
        _phase("pg-workers2", 8, 420, 1.0, server_cpu_pct=105.0, database_cpu_pct=42.0),
    ]
    table = bench.scaling_table(phases, bench.SCALING_CONFIGS, (8,))
    assert [(e["config"], e["processes"], e["vs_first"]) for e in table] == [
        ("sqlite", 1, 1.0),
        ("pg", 1, 0.75),
        ("pg-workers2", 2, 1.05),
        ("pg-instances2", 2, None),
    ]
    assert [e["cpu_ms_per_flow"] for e in table] == [3.0, 4.0, 3.5, None]  # provider + database CPU per flow


def test_the_report_puts_the_configurations_side_by_side(bench: ModuleType) -> None:
    phases = [
        _phase("sqlite", 1, 200, 1.0),
        _phase("pg", 1, 150, 1.0, database_cpu_pct=20.0),
        _phase("pg-workers2", 1, 100, 1.0, database_cpu_pct=20.0),
        _phase("sqlite", 8, 400, 1.0),
        _phase("pg", 8, 300, 1.0, database_cpu_pct=30.0, errors=2, error_kinds={"token: HTTP 500": 2}),
        _phase("pg-workers2", 8, 420, 1.0, database_cpu_pct=40.0),
    ]
    text = bench.format_scaling(_results(bench, phases, {"pg-instances2": "RuntimeError: server exited early"}))
    lines = text.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("clients") and "SQLite ×1" in line)
    assert header.index("SQLite ×1") < header.index("PostgreSQL ×1") < header.index("PostgreSQL ×2 instances")
    wide = next(line for line in lines if line.split()[:1] == ["8"] and "FAILED" in line)
    assert "400, 20 / 39.6, 100 %" in wide and "420, 21 / 41.6, 140 %" in wide
    row = next(line for line in lines if line.split()[:2] == ["8", "PostgreSQL"] and "×1" in line)
    assert row.split()[3] == "300" and row.split()[-1] == "0.75"
    failed = next(line for line in lines if line.split()[:2] == ["1", "PostgreSQL"] and "instances" in line)
    assert "FAILED" in failed
    assert "NOT MEASURED: pg-instances2: RuntimeError: server exited early" in text
    assert "ERRORS: 2" in text and "pg at 8 clients, round 1, token: HTTP 500: 2" in text
    assert "per phase: 40-40 %" in text


def test_the_benchmark_runs_postgresql_durable_where_the_tests_do_not(bench: ModuleType, tmp_path: Path) -> None:
    server = PostgresServer(tmp_path, bench.BENCH_POSTGRES)
    try:
        assert server.settings["fsync"] == server.settings["synchronous_commit"] == "on"
        assert server.settings["max_connections"] == SETTINGS["max_connections"]
        assert SETTINGS["fsync"] == "off"  # the tests' own server is unchanged
    finally:
        server.remove()


def test_a_larger_pool_is_a_configuration_of_its_own(bench: ModuleType) -> None:
    (config,) = bench.scaling_configs("pg-pool32")
    assert (config.database, config.pool, config.processes) == ("postgresql", 32, 1)
    assert "pg-pool32" not in [c.key for c in bench.SCALING_CONFIGS]  # not run unless asked for
