"""theory.best_model: the adoption rule for the tilted model and the best prediction's
fall-back to the cascade/sign-bin verdict (docs/preregistration-single-model.md#adoption)."""

import json
from pathlib import Path

import pytest

from simulations.studies import single_model_confirm as confirm
from theory import __main__ as cli
from theory import best_model, cascades, tilted_occupancy

# A constructed map: every grid point at n = 64 and 128, both lam, m/n from 1.25 up.
CONSTRUCTED = frozenset((n, r, lam) for n in (64, 128) for r in best_model.GRID_RATIOS[1:]
                        for lam in best_model.GRID_LAMS)


@pytest.fixture
def confirmed(monkeypatch):
    monkeypatch.setattr(best_model, "TILTED_CONFIRMED", CONSTRUCTED)


@pytest.mark.parametrize(("n", "m", "lam", "adopted"), [
    (64, 80, 1e-3, True),       # a confirmed grid point
    (100, 200, 3e-3, True),     # inside a cell whose 8 corners are confirmed
    (128, 1024, 1e-2, True),    # the grid's corner, m/n = 8
    (64, 64, 1e-3, False),      # m/n = 1 was not confirmed
    (64, 70, 1e-3, False),      # its cell has a corner at m/n = 1
    (160, 320, 1e-3, False),    # a corner at n = 256 is not confirmed
    (64, 1024, 1e-3, False),    # m/n = 16: outside the grid's span
    (32, 64, 1e-3, False),      # n = 32: outside
    (64, 128, 0.1, False),      # lam outside [1e-3, 1e-2]
    (64, 128, None, False),     # no lam: the lam-free verdict
])
def test_adoption_is_the_cell_rule(confirmed, n, m, lam, adopted):
    assert best_model.tilted_adopted(n, m, lam) is adopted


def test_best_is_the_tilted_model_where_adopted_and_the_verdict_elsewhere(confirmed):
    moments = best_model.best_moments(64, 128, 1e-2)
    tilted = tilted_occupancy.tilted_model(64, 128, 1e-2)
    assert moments == {"mean": tilted["mean"], "sd": tilted["sd"],
                       "se_mean": tilted["se_mean_theta"], "model": best_model.TILTED_NAME}
    assert best_model.expected_poly_best(64, 128, 1e-2) == tilted["mean"]
    assert best_model.sd_poly_best(64, 128, 1e-2) == tilted["sd"]
    # outside, exactly the cascade/sign-bin verdict
    assert best_model.best_moments(32, 64, 1e-2) == cascades.best_moments(32, 64)
    assert best_model.best_model_name(32, 64, 1e-2) == cascades.best_model_name(32, 64)


def test_nothing_is_adopted_without_confirmed_points(monkeypatch):
    monkeypatch.setattr(best_model, "TILTED_CONFIRMED", frozenset())
    assert not best_model.tilted_adopted(64, 128, 1e-2)


def test_cli_lam_adds_the_tilted_model_and_the_best_for_that_lam(capsys, confirmed):
    assert cli.main(["collisions", "--n", "64", "--m", "128", "--lam", "1e-3", "1e-2",
                     "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["lam"] for r in rows] == [1e-3, 1e-2]
    for row in rows:
        tilted = tilted_occupancy.tilted_model(64, 128, row["lam"])
        # exact: JSON writes a float64 as its shortest round-tripping repr
        assert row["expected_poly_tilted"] == row["expected_poly_best"] == tilted["mean"]
        assert row["model_best"] == best_model.TILTED_NAME


def test_cli_refuses_a_bad_lam_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["collisions", "--n", "64", "--m", "128", "--lam", "-1"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_confirmed_points_are_the_published_analysis():
    """TILTED_CONFIRMED is exactly the registered analysis's C2 set on the published runs."""
    csv = Path(__file__).resolve().parents[1] / "docs" / "data" / "single_model_confirm.csv"
    rows = confirm.analyse(confirm.read(str(csv)), cascade=False)["rows"]
    assert len(rows) == 56  # the whole grid: 4 n x 7 m/n x 2 lam, none missing
    assert best_model.TILTED_CONFIRMED == confirm.c2_points(rows)
