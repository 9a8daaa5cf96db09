"""The conventions both command lines share (--version, python -m, MODEL, --profile/--dataflow/--out/--json/--quiet
with one meaning, defaults in --help, JSON with schema_version and kind), the progress helper, atomic output
folders, and the plots as a library (no backend forced, ax= in, Axes out, files only when asked)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from badinput import run, snapshot
from dkm.cli import build_parser as dkm_parser
from dkm.cli import main as dkm_main
from energysim.cli import build_parser as es_parser
from energysim.cli import main
from energysim.cli.options import DEFAULT_PROFILE
from energysim.cli.outputs import atomic_output_dir
from energysim.cli.progress import Progress
from energysim.mapping.dataflow import DATAFLOW_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, p in a.choices.items():
                yield name, p
                yield from ((f"{name} {n}", q) for n, q in _subparsers(p))


def _option(p, flag):
    return next((a for a in p._actions if flag in a.option_strings), None)


def test_version_in_both_command_lines(capsys):
    for m, prog in ((main, "energysim"), (dkm_main, "dkm")):
        with pytest.raises(SystemExit) as e:
            m(["--version"])
        assert e.value.code == 0 and capsys.readouterr().out.startswith(f"{prog} ")


@pytest.mark.parametrize("pkg", ["energysim", "dkm"])
def test_python_dash_m(pkg):
    r = subprocess.run([sys.executable, "-m", pkg, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.startswith(f"usage: {pkg} ") and "--version" in r.stdout


def test_shared_flags_mean_the_same_everywhere():
    seen = set()
    for prog, parser in (("energysim", es_parser()), ("dkm", dkm_parser())):
        for name, p in _subparsers(parser):
            where = f"{prog} {name}"
            prof, flow = _option(p, "--profile"), _option(p, "--dataflow")
            if prof is not None:
                assert prof.default == DEFAULT_PROFILE and not prof.required, where
                seen.add("profile")
            if flow is not None and name != "compare-metrics":  # compare-metrics is the metrics engineer's
                assert tuple(flow.choices) == DATAFLOW_NAMES, where
                seen.add("dataflow")
            for flag in ("--json", "--quiet", "--lenient"):
                a = _option(p, flag)
                assert a is None or isinstance(a, argparse._StoreTrueAction), (where, flag)
            if _option(p, "--batch") is not None:
                assert _option(p, "--batch").default == 1
    assert seen == {"profile", "dataflow"}
    es = dict(_subparsers(es_parser()))
    for name in ("layers", "estimate", "sweep"):
        assert [a.metavar for a in es[name]._actions if not a.option_strings][0] == "MODEL"
        assert _option(es[name], "--lenient") is not None
    for name in ("estimate", "sweep"):
        for flag in ("--out", "--json", "--quiet"):
            assert _option(es[name], flag) is not None, (name, flag)
    compress = dict(_subparsers(dkm_parser()))["compress"]
    assert _option(compress, "--model") is not None  # still accepted beside MODEL


def test_help_shows_defaults():
    es = dict(_subparsers(es_parser()))
    flat = lambda p: " ".join(p.format_help().split())  # noqa: E731  (help text is wrapped)
    text = flat(es["estimate"])
    assert "(default: eyeriss-65nm)" in text and "(default: rs)" in text
    assert "(default: search)" in flat(es["sweep"])
    assert "(default: 10)" in flat(dict(_subparsers(dkm_parser()))["compress"])


def test_model_positional_or_flag_in_dkm(tmp_path, capsys):
    for argv in (["compress", "digits_cnn"], ["compress", "--model", "digits_cnn"]):
        rc, _, err = run(dkm_main, [*argv, "--data", "digits", "--cluster-rate", "0.2", "--pretrain-epochs", "0",
                                    "--retrain-epochs", "0", "--finetune-epochs", "0", "--json", "--quiet",
                                    "--out", tmp_path / argv[-1]], capsys)
        assert rc == 0, err


@pytest.mark.parametrize("argv,kind", [
    (["models", "--json"], "energysim.models"),
    (["profiles", "--json"], "energysim.profiles"),
    (["layers", "lenet5", "--json"], "energysim.layers"),
    (["estimate", "lenet5", "--json"], "energysim.estimate"),
])
def test_json_outputs_carry_version_and_kind(capsys, argv, kind):
    rc, stdout, _ = run(main, argv, capsys)
    d = json.loads(stdout)
    assert rc == 0 and isinstance(d, dict) and list(d)[:2] == ["schema_version", "kind"]
    assert d["schema_version"] == 1 and d["kind"] == kind


def test_progress_only_on_a_terminal_or_when_asked():
    buf = io.StringIO()
    p = Progress(stream=buf)  # not a terminal: silent
    with p.bar(3, "x") as bar:
        bar.step("a")
    p.epoch("pretrain", 1, 2, loss=0.5)
    p.log("hello")
    assert buf.getvalue() == ""
    p = Progress(enabled=True, stream=buf)  # forced: plain lines, no carriage returns
    with p.bar(2, "x") as bar:
        bar.step("conv1")
    p.epoch("retrain", 3, 10, loss=0.125)
    assert "[   1/2] conv1" in buf.getvalue() and "retrain    3/10  loss=0.1250" in buf.getvalue()
    assert "\r" not in buf.getvalue()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    p = Progress(stream=term)
    for e in (1, 2):
        p.epoch("pretrain", e, 2, loss=0.5)
    assert "pretrain" in term.getvalue() and "2/2" in term.getvalue() and "<" in term.getvalue()  # rate and ETA
    assert not Progress(enabled=False, stream=term).active


def test_atomic_output_dir(tmp_path):
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        assert not out.exists() and tmp.parent == tmp_path
        (tmp / "a.csv").write_text("1")
    assert snapshot(out) == {"a.csv": b"1"} and oct(out.stat().st_mode & 0o777) != "0o700"
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as tmp:
            (tmp / "a.csv").write_text("2")
            raise RuntimeError
    assert snapshot(out) == {"a.csv": b"1", "notes.txt": b"mine"}
    with atomic_output_dir(out) as tmp:
        (tmp / "a.csv").write_text("3")
    assert snapshot(out) == {"a.csv": b"3", "notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_no_backend_forced_and_no_import_time_side_effects():
    for f in [*(ROOT / "energysim").rglob("*.py"), *(ROOT / "dkm" / "cli").rglob("*.py"), ROOT / "dkm" / "score.py"]:
        assert "matplotlib.use(" not in f.read_text(), f
    code = ("import matplotlib; b = matplotlib.rcParams._get_backend_or_none(); import energysim.analysis.plots, "
            "energysim.analysis.sweep, dkm, dkm.cli; assert matplotlib.rcParams._get_backend_or_none() == b")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_plots_take_ax_return_axes_and_write_only_when_asked(tmp_path):
    from matplotlib.figure import Figure

    from energysim import estimate, trace_model
    from energysim.analysis.plots import plot_breakdown, plot_level_share, plot_side_by_side
    from energysim.analysis.sweep import plot_pareto
    import pandas as pd

    rep = estimate(trace_model("lenet5"), "eyeriss-65nm", "rs")
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert plot_breakdown(rep, by="dataspace", ax=axes[0]) is axes[0]
    assert plot_level_share(rep, ax=axes[1]) is axes[1]
    assert plot_side_by_side(rep, rep, ax=axes[2]) is axes[2]
    assert axes[1].get_xlabel() == "share of total energy (%)" and list(tmp_path.iterdir()) == []
    for kind in ("level", "dataspace", "share"):
        assert rep.plot(kind=kind, ax=Figure().subplots()).get_title()
    rep.plot(kind="share", path=tmp_path / "share.png")
    assert (tmp_path / "share.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="kind"):
        rep.plot(kind="pie")
    df = pd.DataFrame([{"status": "ok", "energy": 1e6, "cycles": 10.0, "area_mm2": 1.0}])
    pair = Figure().subplots(1, 2)
    assert plot_pareto(df, df, ax=pair) is pair[0].figure
