"""The mutation check's own rules (docs/testing.md#mutation-check), on a scratch tree."""

import pytest

from tests.mutants import (
    MUTANTS,
    Edit,
    Mutant,
    Outcome,
    StaleMutant,
    apply_edits,
    check_edits,
    table,
    verdict,
)


def _mutant(*edits):
    return Mutant("m", "cat", "changes a | b", "why", tuple(edits))


def test_verdict_rule():
    """Only pytest's 'tests failed' (1) is a kill; 0 survives; anything else is an error."""
    assert verdict(1) == "killed"
    assert verdict(0) == "survived"
    for code in (2, 3, 4, 5, None):
        assert verdict(code) == "error"


def test_stale_snippets_fail_loudly(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\ny = 1\n")
    check_edits(_mutant(Edit("a.py", "x = 1", "x = 2")), tmp_path)
    with pytest.raises(StaleMutant, match="0 times"):
        check_edits(_mutant(Edit("a.py", "z = 1", "z = 2")), tmp_path)
    with pytest.raises(StaleMutant, match="2 times"):
        check_edits(_mutant(Edit("a.py", " = 1", " = 2")), tmp_path)


def test_edits_apply_together_and_must_compile(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\ny = 1\n")
    (tmp_path / "b.py").write_text("z = 3\n")
    apply_edits(_mutant(Edit("a.py", "x = 1", "x = 2"), Edit("a.py", "y = 1", "y = 5"),
                        Edit("b.py", "z = 3", "z = 4")), tmp_path)
    assert (tmp_path / "a.py").read_text() == "x = 2\ny = 5\n"
    assert (tmp_path / "b.py").read_text() == "z = 4\n"
    with pytest.raises(SyntaxError):
        apply_edits(_mutant(Edit("a.py", "x = 2", "x = 3"), Edit("b.py", "z = 4", "z = (")),
                    tmp_path)
    assert (tmp_path / "a.py").read_text() == "x = 2\ny = 5\n"  # nothing written
    assert (tmp_path / "b.py").read_text() == "z = 4\n"


def test_registry_is_well_formed():
    """Unique names, at least 15 mutants, every one with edits, a reason and a category."""
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names)) >= 15
    assert all(m.edits and m.why and m.change and m.category for m in MUTANTS)
    assert {"refined-law-2-lam-r", "adamw-eps-inside-sqrt", "t-full-distribution-isf-u"} <= set(
        names)


def test_table_escapes_pipes():
    row = table([Outcome("m", "killed", 1, 1.0, "tests/x.py::t", False)], {"m": _mutant()})
    assert "a \\| b" in row.splitlines()[-1]
