"""The lab's findings: one observation per experiment and engine, written at
the end of every run as JSON and as one self-contained HTML report.

Tests call `record(...)` with what they observed, what the specs say, and
whether our defences held; they still assert, so a broken defence fails CI.
An observation is a pass, a fail, or `recorded`: engine behaviour observed where
no spec requires a particular outcome (its `passed` stays true: nothing failed).

The report leads with one line (did every defence hold?) and a matrix of
experiments E1.. then journeys × Chromium, Firefox, WebKit, each cell ✓ / ✗ /
recorded and a link to that row's details below; then, where experiments ran attacker moves
against ways of holding tokens (`move`, `architecture`, `attacker`), the architectures table.
"""

import html
import json
import platform
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "report" / "out"


@dataclass(frozen=True)
class Observation:
    experiment: str  # "E1".."E13" or "J:<journey>" ("J:<journey> [mpy]" on MicroPython)
    title: str
    engine: str  # "chromium", "firefox", "webkit"
    engine_version: str
    observed: str  # what this engine did, in a few words
    expected: str  # what the specs (or our defences) say should happen
    spec: str  # e.g. "RFC 9110 §10.2.2"
    passed: bool
    recorded: bool = False  # engine behaviour where no spec requires an outcome (passed is then True)
    # The architectures table (issue 12): an attacker's move against one way of holding tokens, and
    # whether the attacker got what the move is after ("succeeded") or not ("stopped").
    move: str = ""  # one of MOVES
    architecture: str = ""  # one of ARCHITECTURES
    attacker: str = ""  # "succeeded" or "stopped"


_observations: list[Observation] = []


def record(
    experiment: str,
    title: str,
    engine: str,
    engine_version: str,
    observed: str,
    expected: str,
    spec: str,
    passed: bool,
    recorded: bool = False,
    move: str = "",
    architecture: str = "",
    attacker: str = "",
) -> None:
    if (move or architecture or attacker) and (
        move not in MOVES or architecture not in ARCHITECTURES or attacker not in ATTACKER
    ):
        raise ValueError(f"architectures table: unknown move {move!r}, architecture {architecture!r} or {attacker!r}")
    _observations.append(
        Observation(
            experiment,
            title,
            engine,
            engine_version,
            observed,
            expected,
            spec,
            passed,
            recorded,
            move,
            architecture,
            attacker,
        )
    )


def observations() -> list[Observation]:
    return list(_observations)


def write_report(out_dir: Path = OUT_DIR) -> Path | None:
    """Writes results.json and report.html; returns the HTML path (None when nothing was observed)."""
    if not _observations:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "engines": _engines(),
        "claims": {k: v for k, v in CLAIMS.items() if any(o.experiment == k for o in _observations)},
        "observations": [_as_json(o) for o in _observations],
    }
    (out_dir / "results.json").write_text(json.dumps(data, indent=2))
    path = out_dir / "report.html"
    path.write_text(render_html(data))
    return path


def _as_json(obs: Observation) -> dict[str, Any]:
    """An observation's JSON; the architectures table's fields only where the experiment set them."""
    data = asdict(obs)
    for name in ("move", "architecture", "attacker"):
        if not data[name]:
            del data[name]
    return data


def _engines() -> dict[str, str]:
    return {o.engine: o.engine_version for o in _observations}


# --- the report: a summary matrix first, then every observation -------------------------------

ENGINES = ("chromium", "firefox", "webkit")  # always shown, in this order, even when not run
ENGINE_NAMES = {"chromium": "Chromium", "firefox": "Firefox", "webkit": "WebKit"}
MARKS = {"pass": "✓", "fail": "✗", "recorded": "recorded"}

# One line per experiment for the summary matrix: what it shows (details in e2e/FINDINGS.md).
CLAIMS = {
    "E1": "Server logs: a fragment's tokens reach none; a query code reaches the SPA host",
    "E2": "Referer: no-referrer leaks nothing; without a policy the fragment is never sent",
    "E3": "A 302 without a fragment carries the fragment (and its token) to the next page",
    "E4": "History: location, referrer, Back and Forward never bring back a code or token",
    "E5": "CORS: only registered origins use /token; a foreign page's request spends nothing",
    "E6": "A replayed code fails and revokes the tokens the first exchange issued",
    "E7": "A stolen code is useless without the PKCE verifier or the client's secret",
    "E8": "The SPA refuses an access token issued to another client; a naive client accepts it",
    "E9": "Login CSRF: a callback with a foreign state is refused before any token request",
    "E10": "A scrubbed URL stays in the timing entry: its code is spent, its token works",
    "E11": "DPoP: an injected script can make the page's key sign, never export it",
    "E12": "A copied DPoP-bound access token is refused elsewhere; a copied bearer token works",
    "E13": "A refresh token stolen from the page is useless without the DPoP key",
    "E14": "An injected script vs each way of holding tokens: what it reads, uses, proxies, starts",
    "E15": "BFF: an injected script can call the API through the page, but reads no token",
    "E16": "Silent renewal: a cross-site iframe gets login_required (no Lax cookie); top-level prompt=none works",
    "E17": "A stolen refresh token meets rotation: the second use revokes the family for both",
}

# The architectures table: rows are the attacker's moves (draft-ietf-oauth-browser-based-apps §5.1),
# columns the ways of holding tokens the lab runs them against, in this order.
MOVES = (
    "read the access token",
    "read the refresh token",
    "use a stolen token elsewhere",
    "start a fresh flow of its own",
    "proxy an API call through the page",
)
ARCHITECTURES = (
    "memory (Pyodide)",
    "memory (MicroPython)",
    "sessionStorage",
    "shared (BroadcastChannel)",
    "Web Worker",
    "JS closure (baseline)",
    "DPoP (non-extractable key)",
    "BFF (server-side tokens)",
)
ATTACKER = ("succeeded", "stopped")

_NUMBER = re.compile(r"(\d+)")
_VARIANT = re.compile(r" \[[^\]]+\]$")  # "J:back [mpy]": the same journey on another runtime


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts numbers by value, the rest case-insensitively: E2 < E10, "popup 2" < "popup 10"."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.casefold()) for part in _NUMBER.split(text) if part)


def row_key(experiment: str) -> tuple[bool, tuple[tuple[int, int | str], ...]]:
    """Experiments (E1..E10) first, then journeys ("J:..."), each in natural order."""
    return experiment.startswith("J:"), natural_key(experiment)


def group_of(experiment: str) -> str:
    """The summary row an observation belongs to: its experiment, a journey's runtimes merged."""
    return _VARIANT.sub("", experiment)


def outcome(obs: dict[str, Any]) -> str:
    """ "pass", "fail", or "recorded" (engine behaviour no spec pins down). A failure is never hidden."""
    if not obs["passed"]:
        return "fail"
    return "recorded" if obs.get("recorded", False) else "pass"


def summarize(cell: list[dict[str, Any]]) -> tuple[str, str]:
    """One matrix cell (every observation of one row in one engine): its outcome and a short note."""
    if not cell:
        return "na", ""
    counts = {k: sum(outcome(o) == k for o in cell) for k in MARKS}
    if counts["fail"]:
        return "fail", f"{counts['fail']} of {len(cell)}" if len(cell) > 1 else ""
    if counts["pass"]:
        return "pass", f"+{counts['recorded']} recorded" if counts["recorded"] else ""
    return "recorded", ""


def engine_columns(engines: dict[str, str]) -> list[str]:
    return list(ENGINES) + sorted(e for e in engines if e not in ENGINES)


def engine_name(engine: str) -> str:
    return ENGINE_NAMES.get(engine, engine)


def verdict(data: dict[str, Any]) -> str:
    """The report's first line: did every defence hold, in which engines, and what was only recorded."""
    observations = data["observations"]
    checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obs in observations:
        if outcome(obs) != "recorded":
            checks.setdefault((obs["experiment"], obs["title"]), []).append(obs)
    recorded = sum(outcome(o) == "recorded" for o in observations)
    ran = [e for e in engine_columns(data["engines"]) if e in data["engines"]]
    failed = sorted(
        (check for check, obs in checks.items() if any(outcome(o) == "fail" for o in obs)),
        key=lambda check: (row_key(check[0]), natural_key(check[1])),
    )
    engines = f"{len(ran)} engine{'s' if len(ran) != 1 else ''} ({', '.join(engine_name(e) for e in ran)})"
    if failed:
        where = ", ".join(
            f"{exp} in " + "/".join(engine_name(o["engine"]) for o in checks[(exp, title)] if outcome(o) == "fail")
            for exp, title in failed[:5]
        )
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        line = f"{len(failed)} of {len(checks)} defences FAILED ({where}{more}); run in {engines}"
    else:
        line = f"All {len(checks)} defences held in {engines}"
    incomplete = sum(1 for obs in checks.values() if {o["engine"] for o in obs} != set(ran))
    if incomplete:
        line += f"; {incomplete} not run in every engine"
    missing = [engine_name(e) for e in ENGINES if e not in data["engines"]]
    if missing:
        line += f"; not run: {', '.join(missing)}"
    return line + f"; {recorded} engine behaviour{'s' if recorded != 1 else ''} recorded."


def _anchor(group: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", group.casefold()).strip("-") or "row"
    anchor, n = slug, 1
    while anchor in taken:
        n += 1
        anchor = f"{slug}-{n}"
    taken.add(anchor)
    return anchor


def _claim(group: str, checks: list[dict[str, Any]], claims: dict[str, str]) -> str:
    if group in claims:
        return claims[group]
    expected = {o["expected"] for o in checks}
    return str(expected.pop() if len(expected) == 1 else checks[0]["title"])


def render_html(data: dict[str, Any]) -> str:
    """The whole report, one self-contained page (inline CSS, no script, nothing fetched):
    the verdict, a matrix of experiments and journeys × engines, then every observation."""
    e = html.escape
    engines = engine_columns(data["engines"])
    claims = {**CLAIMS, **data.get("claims", {})}
    groups: dict[str, list[dict[str, Any]]] = {}
    for obs in data["observations"]:
        groups.setdefault(group_of(obs["experiment"]), []).append(obs)
    order = sorted(groups, key=row_key)
    taken: set[str] = set()
    anchors = {group: _anchor(group, taken) for group in order}

    head = "".join(
        f"<th scope='col'>{e(engine_name(n))}<small>{e(data['engines'].get(n, 'not run'))}</small></th>"
        for n in engines
    )
    matrix, details = [], []
    for i, group in enumerate(order):
        obs_list = groups[group]
        if group.startswith("J:") and (i == 0 or not order[i - 1].startswith("J:")):
            matrix.append(
                f"<tr class='sep'><th colspan='{2 + len(engines)}' scope='colgroup'>"
                "Journeys (Pyodide and MicroPython runtimes merged per cell)</th></tr>"
            )
        label = group.removeprefix("J:")
        claim = _claim(group, obs_list, claims)
        href = f"#{anchors[group]}"
        cells = []
        for engine in engines:
            status, note = summarize([o for o in obs_list if o["engine"] == engine])
            mark = MARKS.get(status, "—")
            tip = f"{engine_name(engine)}: " + {"na": "not run", "pass": "held", "fail": "FAILED"}.get(status, status)
            cells.append(
                f"<td class='{status}'><a href='{href}' title='{e(tip)}'>{e(mark)}"
                + (f" <small>{e(note)}</small>" if note else "")
                + "</a></td>"
            )
        row_status = "fail" if any(outcome(o) == "fail" for o in obs_list) else ""
        matrix.append(
            f"<tr class='{row_status}'><th scope='row'><a href='{href}'>{e(label)}</a></th>"
            f"<td class='claim' title='{e(claim)}'>{e(claim)}</td>" + "".join(cells) + "</tr>"
        )
        details.append(_detail(group, anchors[group], claim, obs_list, engines))

    return _PAGE.format(
        verdict=e(verdict(data)),
        verdict_class="fail" if any(outcome(o) == "fail" for o in data["observations"]) else "pass",
        generated=e(data["generated_at"]),
        platform=e(data["platform"]),
        head=head,
        cols='<col class="engine">' * len(engines),
        matrix="\n".join(matrix),
        architectures=architectures_table(data, anchors, engines),
        details="\n".join(details),
    )


def architectures_table(data: dict[str, Any], anchors: dict[str, str], engines: list[str]) -> str:
    """Attacker moves × ways of holding tokens; each cell says whether the attacker got what the move
    is after, per engine (one word when every engine that ran agrees). Empty without such observations."""
    e = html.escape
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obs in data["observations"]:
        if obs.get("move") and obs.get("architecture"):
            cells.setdefault((obs["move"], obs["architecture"]), []).append(obs)
    if not cells:
        return ""
    columns = [a for a in ARCHITECTURES if any(arch == a for _, arch in cells)]
    rows = []
    for move in (m for m in MOVES if any(mv == m for mv, _ in cells)):
        tds = []
        for arch in columns:
            found = cells.get((move, arch), [])
            if not found:
                tds.append("<td class='na'>—</td>")
                continue
            by_engine: dict[str, str] = {}
            for engine in engines:
                results = {o["attacker"] for o in found if o["engine"] == engine}
                if results:  # of two runtimes in one engine, one success is a success
                    by_engine[engine] = "succeeded" if "succeeded" in results else "stopped"
            words = set(by_engine.values())
            if len(words) == 1:
                text = e(words.pop()) + f" <small>{len(by_engine)} engine{'s' if len(by_engine) != 1 else ''}</small>"
            else:
                text = "<br>".join(f"{e(engine_name(n))}: {e(w)}" for n, w in by_engine.items())
            failed = any(outcome(o) == "fail" for o in found)
            status = "fail" if failed else ("took" if "succeeded" in by_engine.values() else "pass")
            href = "#" + anchors[group_of(found[0]["experiment"])]
            tip = " | ".join(dict.fromkeys(f"{engine_name(o['engine'])}: {o['observed']}" for o in found))
            tds.append(f"<td class='{status}'><a href='{href}' title='{e(tip)}'>{text}</a></td>")
        rows.append(f"<tr><th scope='row'>{e(move)}</th>{''.join(tds)}</tr>")
    head = "".join(f"<th scope='col'>{e(a)}</th>" for a in columns)
    return (
        "<h2 id='architectures'>Architectures: what a script injected into the page could do</h2>\n"
        "<p class='meta'>Rows: the attacker's moves (draft-ietf-oauth-browser-based-apps §5.1). Columns: where the "
        "tokens live. <b>succeeded</b>: the attacker got what the move is after; <b>stopped</b>: it did not. "
        "A cell opens its experiment below.</p>\n"
        f"<table class='arch'><thead><tr><th scope='col'>attacker's move</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _detail(group: str, anchor: str, claim: str, obs_list: list[dict[str, Any]], engines: list[str]) -> str:
    """One experiment or journey: a row per check (title), a column per engine, the observed text."""
    e = html.escape
    checks: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for obs in sorted(obs_list, key=lambda o: (row_key(o["experiment"]), natural_key(o["title"]))):
        checks.setdefault((obs["experiment"], obs["title"]), {})[obs["engine"]] = obs
    rows = []
    for (_, title), by_engine in checks.items():
        first = next(iter(by_engine.values()))
        tds: list[str] = []
        shown: dict[str, Any] | None = None
        for engine in engines:
            cell = by_engine.get(engine)
            if cell is None:
                tds.append("<td class='na'>not run</td>")
                continue
            status = outcome(cell)
            if shown is not None and (cell["observed"], status) == (shown["observed"], outcome(shown)):
                text = f"<span class='same'>same as {e(engine_name(shown['engine']))}</span>"
            else:
                text, shown = e(cell["observed"]), cell
            tds.append(f"<td class='{status}'><b>{e(MARKS[status])}</b> {text}</td>")
        rows.append(
            f"<tr><th scope='row'>{e(title)}<small>{e(first['expected'])}</small>"
            f"<small class='spec'>{e(first['spec'])}</small></th>" + "".join(tds) + "</tr>"
        )
    head = "".join(f"<th scope='col'>{e(engine_name(n))}</th>" for n in engines)
    return (
        f"<section id='{anchor}'><h3>{e(group.removeprefix('J:'))} <span>{e(claim)}</span>"
        f" <a class='top' href='#matrix'>↑ matrix</a></h3>\n"
        f"<table class='detail'><thead><tr><th scope='col'>check · expected · spec</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>spalab lab report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem 2rem; color: #1d2330; }}
h1 {{ font-size: 1.4rem; margin: 0 0 .4rem; }} h2 {{ font-size: 1.1rem; margin: 1.6rem 0 .5rem; }}
p {{ margin: .3rem 0; }} a {{ color: inherit; }}
.verdict {{ font-size: 1.05rem; font-weight: 600; padding: .5rem .75rem; border-radius: 4px; }}
.verdict.pass {{ background: #eaf7ee; border-left: 4px solid #2e7d4f; }}
.verdict.fail {{ background: #fdecec; border-left: 4px solid #b3261e; }}
.meta {{ color: #5b6475; font-size: .85rem; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
th, td {{ border: 1px solid #d0d5dd; text-align: left; vertical-align: top; overflow-wrap: anywhere; }}
thead th {{ background: #1f3a73; color: #fff; font-weight: 600; }}
th small, td small {{ display: block; color: #5b6475; font-weight: normal; font-size: .8rem; }}
thead th small {{ color: #d6e0f5; }}
.matrix th, .matrix td {{ padding: .2rem .5rem; }}
.matrix col.label {{ width: 15rem; }} .matrix col.engine {{ width: 7.5rem; }}
.matrix td.claim {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.matrix td.pass, .matrix td.fail, .matrix td.recorded, .matrix td.na {{ text-align: center; padding: 0; }}
.matrix td a {{ display: block; padding: .2rem .5rem; text-decoration: none; font-weight: 600; }}
.matrix td small {{ display: inline; }}
.matrix tbody th {{ font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.matrix tbody th a {{ text-decoration: none; }}
.matrix tr.sep th {{ background: #eef1f6; font-weight: 600; }}
.matrix tr.fail th, .matrix tr.fail td.claim {{ color: #b3261e; }}
td.pass {{ background: #eaf7ee; }} td.fail {{ background: #fdecec; }} td.recorded {{ background: #eef2fb; }}
td.na {{ color: #8a93a3; }} td.pass b, .matrix td.pass {{ color: #1e6b3c; }}
td.fail b, .matrix td.fail {{ color: #b3261e; }} td.recorded b, .matrix td.recorded {{ color: #1f3a73; }}
.arch th, .arch td {{ padding: .25rem .4rem; font-size: .85rem; overflow-wrap: break-word; }}
.arch thead th {{ font-size: .75rem; }} .arch thead th:first-child {{ width: 12rem; }}
.arch td a {{ display: block; text-decoration: none; font-weight: 600; }} .arch td small {{ display: inline; }}
td.took {{ background: #fff1e0; color: #8a4b00; }}
.detail th, .detail td {{ padding: .35rem .5rem; font-size: .85rem; }}
.detail thead th:first-child {{ width: 28%; }}
.detail small.spec {{ font-style: italic; }}
.same {{ color: #5b6475; font-style: italic; }}
section {{ margin: 1.2rem 0; }} section:target h3 {{ background: #fff4c2; }}
h3 {{ font-size: 1rem; margin: 0 0 .3rem; padding: .15rem .3rem; }}
h3 span {{ font-weight: normal; }} h3 a.top {{ float: right; font-weight: normal; font-size: .8rem; }}
ul.legend {{ display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; list-style: none; padding: 0;
  margin: .4rem 0; font-size: .85rem; color: #5b6475; }}
</style></head><body>
<h1>spalab lab report</h1>
<p class="verdict {verdict_class}">{verdict}</p>
<p class="meta">Authorization code + PKCE versus implicit, observed in real browser engines.
Generated {generated} on {platform}.</p>
<ul class="legend"><li><b>✓</b> our defence held, or the engine did what a spec requires</li>
<li><b>✗</b> it did not</li><li><b>recorded</b> engine behaviour observed where no spec requires an outcome</li>
<li><b>—</b> not run</li><li>a cell or row opens its details below</li></ul>
<h2 id="matrix">Summary</h2>
<table class="matrix"><colgroup><col class="label"><col>{cols}</colgroup>
<thead><tr><th scope="col">experiment</th><th scope="col">claim</th>{head}</tr></thead>
<tbody>
{matrix}
</tbody></table>
{architectures}
<h2 id="details">Details: every observation</h2>
{details}
</body></html>
"""
