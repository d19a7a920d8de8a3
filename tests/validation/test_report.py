import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from actors_wf import Validator

BROKEN = """\
id: report
inputs: {name: str}
steps:
  - id: greet
    component: text.greet
    inputs: {name: $inputs.nam}
  - id: shout
    component: text.uper
    inputs: {text: $steps.greet.output}
  - id: loop_a
    component: text.upper
    inputs: {text: $steps.loop_b.output}
  - id: loop_b
    component: text.upper
    inputs: {text: $steps.loop_a.output}
outputs: {loud: $steps.shout.output, l: $steps.loop_b.output}
"""


@pytest.fixture
def result(validator):
    return validator.validate(BROKEN)


def test_text_report_quotes_the_line_with_a_caret_and_the_fix(validator, result):
    text = validator.get_visual_report(result, color=False)
    assert "error[WF201]: no component 'text.uper' is registered" in text
    assert "  --> <text>:8:16 (steps[1].component)" in text
    assert " 8 |     component: text.uper" in text
    assert "   |                ^^^^^^^^^ did you mean 'text.upper'?" in text
    assert "steps form a cycle: loop_a -> loop_b -> loop_a" in text
    assert text.endswith("3 errors in workflow 'report'")
    assert "\033[" not in text


def test_text_report_has_colour_when_asked(validator, result):
    text = validator.get_visual_report(result, color=True)
    assert "\033[1;31merror[WF201]\033[0m" in text


def test_text_report_without_source_lines_names_the_fix(validator):
    result = validator.validate({"id": "w", "steps": [{"id": "a", "component": "text.uper"}]})
    text = validator.get_visual_report(result, color=False)
    assert "  --> <dict> (steps[0].component)" in text
    assert "   = fix: did you mean 'text.upper'?" in text
    assert validator.get_visual_report(validator.validate({"id": "w", "steps": []})) == (
        "workflow 'w' is valid"
    )


def test_json_report_lists_every_problem(validator, result):
    data = json.loads(validator.get_visual_report(result, "json"))
    assert data["ok"] is False
    assert [p["code"] for p in data["problems"]] == [p.code for p in result.problems]
    assert data["problems"][0].keys() == {
        "code",
        "severity",
        "path",
        "line",
        "column",
        "message",
        "hint",
    }


def test_unknown_format_is_refused(validator, result):
    with pytest.raises(ValueError, match="use text, html or json"):
        validator.get_visual_report(result, "pdf")


def test_html_report_lists_problems_and_draws_the_dag_with_faults_marked(validator, result):
    page = validator.get_visual_report(result, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<tr class='problem'>") == len(result.problems)
    assert "<svg id='dag'" in page
    assert "<g class='node failing' data-step='shout'>" in page
    assert "<g class='node failing' data-step='loop_a'>" in page
    assert "<g class='node' data-step='greet'>" not in page  # greet has an error too
    assert page.count("class='edge failing'") == 2  # loop_a <-> loop_b
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_html_report_of_an_unreadable_document(validator):
    page = Validator().get_visual_report(Validator().validate("id: ["), "html")
    assert "No steps could be read." in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _png_pixels(data: bytes) -> bytes:
    """The decompressed image data of a PNG (enough to tell blank from drawn)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_html_report_renders_in_a_real_browser(validator, result, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(validator.get_visual_report(result, "html"))
    shot = tmp_path / "report.png"
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
    ]
    subprocess.run(
        [*flags, f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = _png_pixels(shot.read_bytes())
    assert len(set(pixels)) > 50, "the screenshot is blank"
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert dom.count('class="problem"') == len(result.problems)
    assert "3 errors in workflow 'report'" in dom
    Path(shot).unlink()
