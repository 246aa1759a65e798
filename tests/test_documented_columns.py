"""Every field the main job writes is documented in docs/usage.md#report-columns.

A tiny E3 (n = 8, two values of m, two instances, the smoke settings: seconds, most of
them the worker's numba compilation) runs in-process; the columns of its results.csv
and the keys of its report.json must each have a row in the docs' tables. The printed
table of the same run is checked against its width budget.
"""

import contextlib
import csv
import io
import json
import re
from pathlib import Path

import pytest

from simulations import compare
from simulations._report import TABLE_WIDTH, WIDE_COLUMNS, slope_fits

USAGE = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
# The tables of docs/usage.md#report-columns, by the anchor of their heading.
ROW_FIELDS, REPORT_KEYS, FIT_FIELDS = "row-fields", "report-json-keys", "fit-fields"
# Top-level report.json keys whose value is an object: its keys are named in that key's row.
NESTED = ("runs", "excluded", "provenance", "anchors")


def documented(anchor: str, text: str | None = None) -> dict[str, str]:
    """Names in backticks in the first cell of each row of the table under the heading
    `### ... {#anchor}` of the Report columns section -> the rest of that row."""
    text = USAGE.read_text() if text is None else text
    section = text[text.index("\n## Report columns\n"):]
    end = section.find("\n## ", 1)
    section = section if end < 0 else section[:end]
    heading = re.search(rf"^### .*\{{#{re.escape(anchor)}\}}$", section, re.M)
    assert heading, f"docs/usage.md has no heading {{#{anchor}}} under '## Report columns'"
    body = section[heading.end():]
    following = re.search(r"^#", body, re.M)
    body = body if following is None else body[:following.start()]
    names = {}
    for line in body.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            cells = line.split("|")
            for name in re.findall(r"`([^`]+)`", cells[1]):
                names[name] = "|".join(cells[2:])
    return names


def undocumented(names, anchor: str, text: str | None = None) -> list[str]:
    """The names (in their order) without a row in the table {#anchor}."""
    rows = documented(anchor, text)
    return [name for name in names if name not in rows]


@pytest.fixture(scope="module")
def tiny_e3(tmp_path_factory):
    """The output folder, stdout and argv of a seconds-long E3 run."""
    tmp = tmp_path_factory.mktemp("tiny_e3")
    argv = ["--quick", "--n", "8", "--m", "8", "32", "--instances", "2", "--no-figures",
            "--no-progress", "--workers", "1", "--out", str(tmp / "out"),
            "--store", str(tmp / "store.sqlite")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert compare.main(argv) == 0
    return tmp / "out", printed.getvalue(), argv


def test_every_results_csv_column_is_documented(tiny_e3):
    out, _, _ = tiny_e3
    with (out / "results.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    missing = undocumented(header, ROW_FIELDS)
    assert not missing, (f"results.csv columns without a row in docs/usage.md#{ROW_FIELDS}: "
                         f"{', '.join(missing)}")
    # and no row documents a column that is no longer written
    stale = sorted(set(documented(ROW_FIELDS)) - set(header))
    assert not stale, f"docs/usage.md#{ROW_FIELDS} documents columns not written: {stale}"


def test_every_report_json_field_is_documented(tiny_e3):
    out, _, _ = tiny_e3
    report = json.loads((out / "report.json").read_text())
    missing = undocumented(report, REPORT_KEYS)
    assert not missing, (f"report.json keys without a row in docs/usage.md#{REPORT_KEYS}: "
                         f"{', '.join(missing)}")
    rows = documented(REPORT_KEYS)
    for key in NESTED:
        if isinstance(report.get(key), dict):
            named = set(re.findall(r"`([^`]+)`", rows[key]))
            missing = [k for k in report[key] if k not in named]
            assert not missing, (f"report.json {key!r} keys not named in its row of "
                                 f"docs/usage.md#{REPORT_KEYS}: {', '.join(missing)}")
    fields = list(dict.fromkeys(k for row in report["rows"] for k in row))
    missing = undocumented(fields, ROW_FIELDS)
    assert not missing, (f"report.json row fields without a row in docs/usage.md#{ROW_FIELDS}: "
                         f"{', '.join(missing)}")
    # The tiny grid has too few m for a fit; these rows give both axes and the m >= 4n subset.
    grid = [(8, m) for m in (8, 16, 32, 64, 128)] + [(16, 128), (32, 128)]
    synthetic = [{"n": n, "m": m, "lam": 0.01, "optimizer": "prox-gd", "measured_instances": 4,
                  "sim_mean": n * n / (4 * m), "sim_sd": 1.0, "pred_exact": n * n / (4 * m),
                  "pred_exact_sd": 1.0} for n, m in grid]
    fits = report["fits"] + slope_fits(synthetic)
    assert {"n", "m", "subset"} <= {k for fit in fits for k in fit}
    missing = undocumented(dict.fromkeys(k for fit in fits for k in fit), FIT_FIELDS)
    assert not missing, (f"report.json fit fields without a row in docs/usage.md#{FIT_FIELDS}: "
                         f"{', '.join(missing)}")


def test_a_field_missing_from_the_docs_is_named():
    """The check above fails, naming the field, when one row of the docs table is removed."""
    text = USAGE.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `sim_sd` |"))
    assert undocumented(["n", "sim_sd", "m"], ROW_FIELDS, text.replace(row + "\n", "")) == [
        "sim_sd"]
    assert undocumented(["n", "sim_sd", "m"], ROW_FIELDS, text) == []


def test_the_default_printout_fits_in_the_width(tiny_e3):
    _, printed, _ = tiny_e3
    lines = printed.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["n", "m"])
    assert header.split() == ["n", "m", "k", "mean", "[95%", "CI]", "n²/4m", "best", "E", "z",
                              "best", "conv."]
    # the overrides line above the table and the "wrote ..." line below it are wrapped too
    too_wide = [line for line in lines if len(line) > TABLE_WIDTH]
    assert not too_wide, too_wide


def test_wide_prints_every_column(tiny_e3, capsys):
    _, _, argv = tiny_e3
    assert compare.main([*argv, "--wide"]) == 0  # every run is reused from the store
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["n", "m"])
    assert [h for h in WIDE_COLUMNS if h not in header] == [], header
