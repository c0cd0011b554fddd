"""The lab's findings: one observation per experiment and engine, written at
the end of every run as JSON and as one self-contained HTML report.

Tests call `record(...)` with what they observed, what the specs say, and
whether our defences held; they still assert, so a broken defence fails CI.
"""

import html
import json
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "report" / "out"


@dataclass(frozen=True)
class Observation:
    experiment: str  # "E1".."E9" or "J:<journey>"
    title: str
    engine: str  # "chromium", "firefox", "webkit"
    engine_version: str
    observed: str  # what this engine did, in a few words
    expected: str  # what the specs (or our defences) say should happen
    spec: str  # e.g. "RFC 9110 §10.2.2"
    passed: bool


_observations: list[Observation] = []


def record(
    experiment: str, title: str, engine: str, engine_version: str, observed: str, expected: str, spec: str, passed: bool
) -> None:
    _observations.append(Observation(experiment, title, engine, engine_version, observed, expected, spec, passed))


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
        "observations": [asdict(o) for o in _observations],
    }
    (out_dir / "results.json").write_text(json.dumps(data, indent=2))
    path = out_dir / "report.html"
    path.write_text(render_html(data))
    return path


def _engines() -> dict[str, str]:
    return {o.engine: o.engine_version for o in _observations}


def render_html(data: dict) -> str:  # type: ignore[type-arg]
    engines = sorted(data["engines"])
    rows: dict[tuple[str, str], dict[str, dict]] = {}  # type: ignore[type-arg]
    for obs in data["observations"]:
        rows.setdefault((obs["experiment"], obs["title"]), {})[obs["engine"]] = obs
    head = "".join(f"<th>{html.escape(e)}<br><small>{html.escape(data['engines'][e])}</small></th>" for e in engines)
    body = []
    for (experiment, title), cells in sorted(rows.items()):
        any_cell = next(iter(cells.values()))
        tds = []
        for engine in engines:
            obs = cells.get(engine)
            if obs is None:
                tds.append('<td class="na">not run</td>')
                continue
            cls = "pass" if obs["passed"] else "fail"
            mark = "✓" if obs["passed"] else "✗"
            tds.append(f'<td class="{cls}">{mark} {html.escape(obs["observed"])}</td>')
        body.append(
            f"<tr><th scope='row'>{html.escape(experiment)}<br><small>{html.escape(title)}</small></th>"
            + "".join(tds)
            + f"<td>{html.escape(any_cell['expected'])}<br><small>{html.escape(any_cell['spec'])}</small></td></tr>"
        )
    return _PAGE.format(
        generated=html.escape(data["generated_at"]),
        platform=html.escape(data["platform"]),
        head=head,
        body="\n".join(body),
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spalab lab report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d2330; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #d0d5dd; padding: .5rem; vertical-align: top; text-align: left; font-size: .9rem; }}
thead th {{ background: #1f3a73; color: #fff; }}
td.pass {{ background: #eaf7ee; }} td.fail {{ background: #fdecec; }} td.na {{ color: #8a93a3; }}
small {{ color: #5b6475; font-weight: normal; }} thead small {{ color: #d6e0f5; }}
</style></head><body>
<h1>spalab lab report</h1>
<p>Authorization code + PKCE versus implicit, observed in real browser engines. Generated {generated} on {platform}.
✓ means the engine behaved as the specs say, or our defence held; ✗ means it did not.</p>
<table><thead><tr><th>experiment</th>{head}<th>what the specs say</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
