"""The lab report (e2e/lab.py) rendered from synthetic observations: natural order, the summary
matrix before the details, all three engine columns, ✓ / ✗ / recorded cells, the verdict line,
and a single self-contained file. Server-free; only the last test opens a browser (Chromium)."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import lab
import pytest
from harness import CHROMIUM_ARGS

ENGINES = {"chromium": "156.0", "firefox": "153.8.0", "webkit": "2.50.6"}


def obs(
    experiment: str,
    engine: str,
    passed: bool = True,
    title: str = "",
    recorded: bool = False,
    observed: str = "as expected",
) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "title": title or f"{experiment} check",
        "engine": engine,
        "engine_version": ENGINES.get(engine, "1.0"),
        "observed": observed,
        "expected": f"what {experiment} promises",
        "spec": "RFC 9700 §4.3.2",
        "passed": passed,
        "recorded": recorded,
    }


def report(observations: list[dict[str, Any]], engines: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "generated_at": "2026-01-01T00:00:00+00:00",
        "platform": "Linux-test",
        "engines": dict(ENGINES if engines is None else engines),
        "observations": observations,
    }


def everywhere(experiment: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [obs(experiment, engine, **kwargs) for engine in ENGINES]


def full_run() -> dict[str, Any]:
    """E1..E10 and two journeys (one on both runtimes) in all three engines, recorded in a scrambled order."""
    rows: list[dict[str, Any]] = []
    for journey in ("J:sign-in code (query) [mpy]", "J:back", "J:sign-in code (query)"):
        rows += everywhere(journey)
    for n in (10, 2, 1, 9, 3, 4, 5, 6, 7, 8):
        rows += everywhere(f"E{n}")
    rows += everywhere("E10", title="E10 implicit", recorded=True)
    return report(rows)


class Parsed(HTMLParser):
    """The report's structure: element ids in document order, fragment links, table headers."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("href", "src", "action", "srcset", "poster", "data") and value:
                (self.links if value.startswith("#") else self.external).append(value)


def parse(page: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(page)
    return parsed


def matrix_of(page: str) -> str:
    start = page.index('<table class="matrix">')
    return page[start : page.index("</table>", start)]


def matrix_rows(page: str) -> list[str]:
    """The row labels of the summary matrix, top to bottom."""
    return re.findall(r"<tr class='[a-z]*'><th scope='row'><a href='#[^']+'>([^<]+)</a>", matrix_of(page))


# --- natural order ---------------------------------------------------------------------------


def test_natural_key_orders_numbers_by_value() -> None:
    assert lab.natural_key("E2") < lab.natural_key("E10")
    assert sorted(["E10", "E2", "E1", "E9", "E3"], key=lab.natural_key) == ["E1", "E2", "E3", "E9", "E10"]
    assert sorted(["popup 10", "Popup 9", "popup 1"], key=lab.natural_key) == ["popup 1", "Popup 9", "popup 10"]
    assert lab.natural_key("") == ()


def test_row_key_puts_experiments_before_journeys() -> None:
    rows = ["J:back", "E10", "J:a", "E2", "E1"]
    assert sorted(rows, key=lab.row_key) == ["E1", "E2", "E10", "J:a", "J:back"]


def test_matrix_rows_run_e1_to_e10_then_journeys_with_runtimes_merged() -> None:
    page = lab.render_html(full_run())
    assert matrix_rows(page) == [f"E{n}" for n in range(1, 11)] + ["back", "sign-in code (query)"]


# --- layout: matrix first, three engines, links to details ----------------------------------


def test_the_matrix_comes_before_the_details_and_the_verdict_before_both() -> None:
    page = lab.render_html(full_run())
    verdict, matrix, details = page.index('class="verdict'), page.index('class="matrix"'), page.index('id="details"')
    assert verdict < matrix < details
    # Every detail section follows the matrix, in the matrix's order.
    sections = [m.start() for m in re.finditer(r"<section id=", page)]
    assert sections and min(sections) > page.index("</table>", matrix)


def test_webkit_has_a_column_even_when_it_did_not_run() -> None:
    for engines in (ENGINES, {"chromium": "156.0", "firefox": "153.8.0"}):
        rows = [obs("E1", engine) for engine in engines]
        matrix = matrix_of(lab.render_html(report(rows, engines)))
        headers = re.findall(r"<th scope='col'>([A-Za-z]+)<small>([^<]*)</small></th>", matrix)
        assert [name for name, _ in headers] == ["Chromium", "Firefox", "WebKit"]
    assert headers[2] == ("WebKit", "not run")
    assert "<td class='na'>" in matrix


def test_every_cell_and_row_links_to_a_detail_section_that_exists() -> None:
    page = lab.render_html(full_run())
    parsed = parse(page)
    assert len(set(parsed.ids)) == len(parsed.ids), "duplicate ids"
    targets = {link[1:] for link in parsed.links}
    assert targets <= set(parsed.ids)
    # 12 rows, each linking from its label and its three cells to one section.
    assert len(re.findall(r"<a href='#", matrix_of(page))) == 12 * 4
    assert len([i for i in parsed.ids if i not in ("matrix", "details")]) == 12


def test_anchors_stay_unique_when_names_slug_alike() -> None:
    page = lab.render_html(report(everywhere("J:a b") + everywhere("J:a-b")))
    ids = parse(page).ids
    assert "j-a-b" in ids and "j-a-b-2" in ids


# --- cells and the verdict --------------------------------------------------------------------


def test_a_cell_is_pass_fail_recorded_or_not_run() -> None:
    passed, failed, recorded = (
        obs("E1", "chromium"),
        obs("E1", "chromium", passed=False),
        obs("E10", "chromium", recorded=True),
    )
    assert lab.summarize([]) == ("na", "")
    assert lab.summarize([passed, passed]) == ("pass", "")
    assert lab.summarize([recorded]) == ("recorded", "")
    assert lab.summarize([passed, recorded, recorded]) == ("pass", "+2 recorded")
    assert lab.summarize([passed, failed, recorded]) == ("fail", "1 of 3")
    assert lab.summarize([failed]) == ("fail", "")
    # A recorded observation that failed is a failure: nothing hides a ✗.
    assert lab.outcome({**recorded, "passed": False}) == "fail"


def test_the_matrix_shows_a_failure_in_one_engine_on_one_runtime() -> None:
    rows = everywhere("E1") + everywhere("J:back") + [obs("J:back [mpy]", e, passed=e != "webkit") for e in ENGINES]
    page = lab.render_html(report(rows))
    back = matrix_of(page).split("<th scope='row'><a href='#j-back'>back</a>")[1].split("</tr>")[0]
    assert re.findall(r"<td class='(\w+)'>", back) == ["pass", "pass", "fail"]
    assert "✗ <small>1 of 2</small>" in back


def test_verdict_when_every_defence_held() -> None:
    assert lab.verdict(full_run()) == (
        "All 13 defences held in 3 engines (Chromium, Firefox, WebKit); 3 engine behaviours recorded."
    )


def test_verdict_names_what_failed_and_where() -> None:
    rows = everywhere("E1") + [obs("E4", e, passed=e != "firefox") for e in ENGINES] + everywhere("E10", recorded=True)
    line = lab.verdict(report(rows))
    assert line == (
        "1 of 2 defences FAILED (E4 in Firefox); run in 3 engines (Chromium, Firefox, WebKit); "
        "3 engine behaviours recorded."
    )
    page = lab.render_html(report(rows))
    assert 'class="verdict fail"' in page and "<tr class='fail'>" in page


def test_verdict_lists_the_first_five_failures_in_natural_order() -> None:
    rows = [obs(f"E{n}", "webkit", passed=False) for n in (10, 9, 8, 7, 6, 2, 1)] + [obs("E3", "webkit")]
    line = lab.verdict(report(rows, {"webkit": "2.50.6"}))
    assert line.startswith("7 of 8 defences FAILED (E1 in WebKit, E2 in WebKit, E6 in WebKit, E7 in WebKit, ")
    assert "E8 in WebKit and 2 more); run in 1 engine (WebKit); not run: Chromium, Firefox;" in line


def test_verdict_says_which_engines_did_not_run() -> None:
    rows = [obs("E1", "chromium"), obs("E2", "chromium"), obs("E2", "firefox")]
    line = lab.verdict(report(rows, {"chromium": "156.0", "firefox": "153.8.0"}))
    assert line == (
        "All 2 defences held in 2 engines (Chromium, Firefox); 1 not run in every engine; "
        "not run: WebKit; 0 engine behaviours recorded."
    )


# --- details and the file itself --------------------------------------------------------------


def test_details_give_every_observation_and_collapse_repeats() -> None:
    rows = [
        obs("E3", "chromium", observed="fragment re-attached"),
        obs("E3", "firefox", observed="fragment re-attached"),
        obs("E3", "webkit", observed="landing hash ''", passed=False),
    ]
    page = lab.render_html(report(rows))
    details = page[page.index('id="details"') :]
    assert "<b>✓</b> fragment re-attached" in details
    assert "same as Chromium" in details
    assert "<b>✗</b> landing hash &#x27;&#x27;" in details
    assert "RFC 9700 §4.3.2" in details and "what E3 promises" in details


def test_observed_text_is_escaped() -> None:
    page = lab.render_html(report(everywhere("E1", observed="<script>alert(1)</script>", title="<b>x</b>")))
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page


def test_the_report_is_one_self_contained_file() -> None:
    page = lab.render_html(full_run())
    parsed = parse(page)
    assert parsed.external == []
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    assert "@import" not in page and "url(" not in page
    assert "<style>" in page


def test_results_json_keeps_its_shape_and_old_files_still_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "_observations", [])
    lab.record("E10", "implicit", "webkit", "2.50.6", "token readable", "readable", "W3C NT2", True, recorded=True)
    lab.record("E2", "Referer", "webkit", "2.50.6", "none", "none", "RFC 9700", True)
    path = lab.write_report(tmp_path)
    assert path == tmp_path / "report.html" and path.read_text().startswith("<!doctype html>")
    data = json.loads((tmp_path / "results.json").read_text())
    assert {"generated_at", "platform", "engines", "observations"} <= set(data)
    assert data["engines"] == {"webkit": "2.50.6"}
    assert data["claims"] == {"E10": lab.CLAIMS["E10"], "E2": lab.CLAIMS["E2"]}
    old_keys = {"experiment", "title", "engine", "engine_version", "observed", "expected", "spec", "passed"}
    assert [set(o) for o in data["observations"]] == [old_keys | {"recorded"}] * 2
    assert [o["recorded"] for o in data["observations"]] == [True, False]
    # A results.json written before "recorded" and "claims" existed renders the same way.
    old = {**data, "observations": [{k: o[k] for k in old_keys} for o in data["observations"]]}
    del old["claims"]
    assert matrix_rows(lab.render_html(old)) == ["E2", "E10"]


def test_write_report_writes_nothing_without_observations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab, "_observations", [])
    assert lab.write_report(tmp_path) is None
    assert not (tmp_path / "results.json").exists()


# --- what a reader sees at 1280 px ---------------------------------------------------------------


def test_the_report_fits_a_1280_px_wide_window(tmp_path: Path, playwright: Any) -> None:
    """Opened from disk (offline) at 1280×800 in Chromium: no horizontal scrolling, WebKit's column
    in view, the matrix on the first screen; long unbroken observations and names included."""
    long = "performance.getEntriesByType('navigation')[0].name=http://localhost:34361/?" + "code,state," * 30
    rows = full_run()["observations"]
    rows += everywhere("E5", title="CORS " + "x" * 200, observed=long)
    rows += everywhere("J:popup id_token token (fragment) with a rather long journey name [mpy]", observed=long)
    rows += [  # the architectures table at its widest: every move against every architecture
        {**obs("E14", engine, observed=long), "move": m, "architecture": a, "attacker": "succeeded"}
        for engine in ENGINES
        for m in lab.MOVES
        for a in lab.ARCHITECTURES
    ]
    path = tmp_path / "report.html"
    path.write_text(lab.render_html(report(rows)))
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
        page = context.new_page()
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        page.goto(path.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        webkit = page.locator("table.matrix thead th", has_text="WebKit").bounding_box()
        assert webkit is not None and webkit["x"] + webkit["width"] <= 1280
        first_row = page.locator("table.matrix tbody tr").first.bounding_box()
        assert first_row is not None and first_row["y"] + first_row["height"] <= 800
        assert fetched == [path.as_uri()]
    finally:
        browser.close()


# --- the architectures table (issue 12) -----------------------------------------------------------


def move(engine: str, move: str, architecture: str, attacker: str, passed: bool = True, runtime: str = "") -> dict:
    return {
        **obs("E14" + runtime, engine, passed=passed, title=f"{architecture}: {move}", observed=f"{attacker} here"),
        "move": move,
        "architecture": architecture,
        "attacker": attacker,
    }


def arch_cells(page: str) -> dict[tuple[str, str], str]:
    """(move, architecture) → the cell's text, read from the rendered table."""
    table = re.search(r"<table class='arch'>(.*?)</table>", page, re.S)
    assert table is not None
    columns = re.findall(r"<th scope='col'>(.*?)</th>", table[1])[1:]
    cells = {}
    for row in re.findall(r"<tr><th scope='row'>(.*?)</th>(.*?)</tr>", table[1], re.S):
        texts = [re.sub(r"<[^>]+>", " ", td).split() for td in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)]
        for column, words in zip(columns, texts, strict=True):
            cells[(row[0], column)] = " ".join(words)
    return cells


def test_the_architectures_table_puts_moves_in_rows_and_ways_of_holding_tokens_in_columns() -> None:
    rows = full_run()["observations"]
    for engine in ENGINES:
        rows.append(move(engine, "read the refresh token", "sessionStorage", "succeeded"))
        rows.append(move(engine, "read the refresh token", "Web Worker", "stopped"))
        rows.append(move(engine, "read the access token", "Web Worker", "stopped"))
    page = lab.render_html(report(rows))
    cells = arch_cells(page)
    assert cells == {
        ("read the access token", "sessionStorage"): "—",
        ("read the access token", "Web Worker"): "stopped 3 engines",
        ("read the refresh token", "sessionStorage"): "succeeded 3 engines",
        ("read the refresh token", "Web Worker"): "stopped 3 engines",
    }
    # After the summary matrix, before the details; its cells open the experiment's section.
    ids = parse(page).ids
    assert ids.index("matrix") < ids.index("architectures") < ids.index("details")
    assert "href='#e14'" in page and "e14" in ids


def test_an_architecture_cell_names_engines_that_disagree_and_shows_a_failed_defence() -> None:
    rows = [
        move("chromium", "start a fresh flow of its own", "memory (Pyodide)", "succeeded"),
        move("firefox", "start a fresh flow of its own", "memory (Pyodide)", "stopped"),
        # Two runtimes in one engine: one success makes the engine's cell a success.
        move("webkit", "proxy an API call through the page", "memory (Pyodide)", "stopped"),
        move("webkit", "proxy an API call through the page", "memory (Pyodide)", "succeeded", runtime=" [mpy]"),
        move("chromium", "read the access token", "BFF (server-side tokens)", "succeeded", passed=False),
    ]
    page = lab.render_html(report(rows))
    cells = arch_cells(page)
    assert cells[("start a fresh flow of its own", "memory (Pyodide)")] == "Chromium: succeeded Firefox: stopped"
    assert cells[("proxy an API call through the page", "memory (Pyodide)")] == "succeeded 1 engine"
    assert "<td class='fail'><a href='#e14' title='Chromium: succeeded here'>succeeded" in page
    assert cells[("read the access token", "memory (Pyodide)")] == "—"


def test_no_architectures_table_without_moves_and_unknown_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "id='architectures'" not in lab.render_html(full_run())
    monkeypatch.setattr(lab, "_observations", [])
    with pytest.raises(ValueError, match="architectures table"):
        lab.record(
            "E14",
            "t",
            "chromium",
            "1",
            "o",
            "e",
            "s",
            True,
            move="steal it",
            architecture="Web Worker",
            attacker="stopped",
        )
    with pytest.raises(ValueError, match="architectures table"):
        lab.record(
            "E14",
            "t",
            "chromium",
            "1",
            "o",
            "e",
            "s",
            True,
            move="read the access token",
            architecture="Web Worker",
            attacker="maybe",
        )
