"""The provider benchmark's comparison with the reference (e2e/bench/provider.py): rounds pooled,
ratios, the table, and the load generator's HTTP/1.1 client."""

import asyncio
from types import ModuleType
from typing import Any

import bench_support
import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return bench_support.load(bench_support.PROVIDER, "bench_provider_reference_under_test")


def _phase(server: str, row: str, concurrency: int, units: int, seconds: float, **extra: Any) -> dict[str, Any]:
    phase = {
        "round": 1,
        "server": server,
        "row": row,
        "concurrency": concurrency,
        "units": units,
        "seconds": seconds,
        "per_s": round(units / seconds, 1),
        "errors": 0,
        "error_kinds": {},
        "warmup_errors": 0,
        "warmup_error_kinds": {},
        "server_cpu_pct": 90.0,
        "client_cpu_pct": 40.0,
        "latency_ms": [float(n) for n in range(1, units + 1)],
    }
    return {**phase, **extra}


def test_ratio_is_spalab_over_the_reference(bench: ModuleType) -> None:
    assert bench.ratio(300.0, 600.0) == 0.5
    assert bench.ratio(1000.0, 800.0) == 1.25
    assert bench.ratio(None, 600.0) is None
    assert bench.ratio(300.0, None) is None
    assert bench.ratio(300.0, 0.0) is None  # the reference did nothing: no ratio, not a division error


def test_rounds_are_pooled_units_over_seconds_and_all_samples(bench: ModuleType) -> None:
    phases = [
        _phase("spalab", "refresh", 8, 100, 1.0, server_cpu_pct=80.0),
        {**_phase("spalab", "refresh", 8, 300, 3.0, server_cpu_pct=100.0), "round": 2, "errors": 2},
        _phase("spalab", "refresh", 64, 7, 1.0),
        _phase("reference", "refresh", 8, 50, 1.0),
    ]
    pooled = bench.summarize(phases, "spalab", "refresh", 8)
    assert pooled["units"] == 400 and pooled["seconds"] == 4.0 and pooled["per_s"] == 100.0
    assert pooled["per_round"] == [100.0, 100.0]
    assert pooled["p50_ms"] == 100.0  # 1..100 and 1..300 pooled: the 200th smallest of 400 is the second 100
    assert pooled["p99_ms"] == 296.0  # the 396th
    assert pooled["errors"] == 2 and pooled["server_cpu_pct"] == 90.0
    assert pooled["server_cpu_ms_per_unit"] == 9.5  # 0.8 s + 3 s of CPU for 400 units
    assert bench.summarize(phases, "reference", "userinfo", 8) is None


def test_the_table_has_a_ratio_per_row_and_level(bench: ModuleType) -> None:
    phases = [
        _phase("spalab", "userinfo", 1, 150, 1.0),
        _phase("reference", "userinfo", 1, 100, 1.0),
        _phase("spalab", "userinfo", 64, 80, 1.0),
    ]
    table = bench.comparison_table(phases, ("userinfo",), (1, 64))
    assert [(e["concurrency"], e["ratio"]) for e in table] == [(1, 1.5), (64, None)]
    assert table[1]["reference"] is None


def _comparison(bench: ModuleType, phases: list[dict[str, Any]], failures: dict[str, str]) -> dict[str, Any]:
    table = bench.comparison_table(phases, ("flows",), (1, 8))
    for phase in phases:
        phase.pop("latency_ms")
    return {
        "reference_name": "node oidc-provider 9.13.3",
        "settings": {"rows": ["flows"], "levels": [1, 8], "rounds": 2, "duration_s": 3.0, "warmup_s": 0.5},
        "table": table,
        "phases": phases,
        "failures": failures,
        "errors_total": sum(p["errors"] + p["warmup_errors"] for p in phases),
    }


def test_the_report_shows_ratios_and_every_error_kind(bench: ModuleType) -> None:
    phases = [
        _phase("spalab", "flows", 1, 200, 2.0),
        _phase("reference", "flows", 1, 100, 2.0),
        _phase("spalab", "flows", 8, 300, 2.0, errors=3, error_kinds={"login: HTTP 503": 3}),
        _phase("reference", "flows", 8, 600, 2.0),
    ]
    text = bench.format_comparison(_comparison(bench, phases, {}))
    row = next(line for line in text.splitlines() if line.split()[:2] == ["flows", "1"])
    assert row.split()[2] == "100" and row.split()[8] == "50" and row.split()[-1] == "2"
    row = next(line for line in text.splitlines() if line.split()[:2] == ["flows", "8"])
    assert row.split()[-1] == "0.5"
    assert "ERRORS: 3" in text and "spalab flows at 8 clients, round 1, login: HTTP 503: 3" in text


def test_a_server_that_did_not_start_reads_failed_and_the_other_is_kept(bench: ModuleType) -> None:
    phases = [_phase("spalab", "flows", 1, 200, 2.0), _phase("spalab", "flows", 8, 300, 2.0)]
    text = bench.format_comparison(_comparison(bench, phases, {"reference": "RuntimeError: node is not installed"}))
    row = next(line for line in text.splitlines() if line.split()[:2] == ["flows", "1"]).split()
    assert row[2] == "100" and row[8] == "FAILED" and row[-1] == "-"
    assert "NOT MEASURED: reference: RuntimeError: node is not installed" in text
    assert "Errors: none." in text


def test_the_lean_client_reads_chunked_bodies_and_keeps_cookies(bench: ModuleType) -> None:
    async def exchange(raw_response: bytes) -> tuple[Any, Any]:
        client = bench.LeanClient("http://127.0.0.1:9")
        reader = asyncio.StreamReader()
        reader.feed_data(raw_response)
        sent = bytearray()

        class Writer:
            def write(self, data: bytes) -> None:
                sent.extend(data)

        client._reader, client._writer = reader, Writer()
        response = await client._send(b"GET / HTTP/1.1\r\n\r\n")
        return client, response

    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
        b"Set-Cookie: _session=abc; path=/; httponly\r\nSet-Cookie: old=; expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    client, response = asyncio.run(exchange(raw))
    assert response.status_code == 200 and response.text == "hello world"
    assert response.headers["content-type"] == "text/plain"
    assert client.cookies == {"_session": "abc"}
    client.cookies["old"] = "x"
    client._set_cookie("old=; Max-Age=0; Path=/")
    assert client.cookies == {"_session": "abc"}


def test_the_lean_client_refuses_another_servers_url(bench: ModuleType) -> None:
    client = bench.LeanClient("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        asyncio.run(client.get("http://evil.example/x"))
