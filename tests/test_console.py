"""The `polysemanticity` console script (simulations/console.py): its help, its errors, and
that each subcommand is the module it names."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulations import console

ROOT = Path(__file__).resolve().parents[1]
# Every module with a `python -m` command line, by subcommand (the list).
EXPECTED = {
    "compare": "simulations.compare",
    "sparsification": "simulations.sparsification",
    "noise": "simulations.noise",
    "noise-optimum": "simulations.noise_optimum",
    "predict": "simulations.predict",
    "replication": "simulations.replication",
    "paper-settings": "simulations.paper_settings",
    "theory": "theory.__main__",
}


def test_every_subcommand_is_a_module_with_main():
    assert {name: module for name, (module, _) in console.COMMANDS.items()} == EXPECTED
    for module in EXPECTED.values():
        assert callable(importlib.import_module(module).main), module


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_subcommand_with_one_line(flag, capsys):
    assert console.main([flag]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(EXPECTED)
    assert out.startswith("usage: polysemanticity SUBCOMMAND")


def test_no_subcommand_prints_the_help_and_exits_2(capsys):
    assert console.main([]) == 2
    assert "subcommands:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["comprae", "--bogus", "simulations.compare"])
def test_unknown_subcommand_is_one_line_with_status_2(name, capsys):
    assert console.main([name, "--help"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"polysemanticity: error: unknown subcommand '{name}'")
    assert "compare, sparsification" in err[0]


def test_a_near_miss_names_the_subcommand(capsys):
    console.main(["comprae"])
    assert "did you mean 'compare'?" in capsys.readouterr().err


def test_compare_help_is_compares_own(capsys):
    from simulations import compare

    with pytest.raises(SystemExit) as exit_info:
        console.main(["compare", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out == compare.build_parser().format_help()


def test_arguments_reach_the_subcommand(capsys):
    # `theory` is the quickest module to run: its table for one (n, m).
    assert console.main(["theory", "collisions", "--n", "8", "--m", "16", "--json"]) == 0
    assert '"n": 8, "m": 16' in capsys.readouterr().out


def test_help_imports_no_subcommand():
    code = ("import sys; from simulations import console; console.main(['--help']); "
            "print([m for m in sys.modules if m.startswith(('simulations.compare', "
            "'simulations.noise', 'simulations.paper', 'simulations.replication', "
            "'simulations.sparsification', 'simulations.predict', 'theory.__main__'))])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


@pytest.mark.skipif(shutil.which("polysemanticity") is None,
                    reason="the console script is installed by `pip install -e .`")
def test_installed_script():
    ok = subprocess.run(["polysemanticity", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "paper-settings" in ok.stdout
    bad = subprocess.run(["polysemanticity", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
