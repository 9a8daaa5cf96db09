"""Interruption and failures that are not the input's fault: Ctrl-C exits 130 with one line and leaves ``--out``
as it was (the previous complete run, or nothing); a runtime failure exits 1 with one line; ``--debug`` shows the
traceback. In-process where a patched function can raise; in a real process on a terminal (a pty) for Ctrl-C
itself, where the progress bar, the signal and the worker processes are real."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import energysim.analysis.plots as plots
from badinput import expect_error, run, snapshot
from dkm.cli import main as dkm_main
from energysim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _boom(exc):
    def raiser(*a, **k):
        raise exc
    return raiser


@pytest.fixture
def previous_run(tmp_path, capsys):
    """An --out folder holding a complete earlier estimate and a file of the user's."""
    out = tmp_path / "out"
    assert run(main, ["estimate", "lenet5", "--out", out, "--quiet"], capsys)[0] == 0
    (out / "notes.txt").write_text("mine")
    return out


@pytest.mark.parametrize("exc,rc,needles", [
    (KeyboardInterrupt(), 130, ["energysim: interrupted"]),
    (RuntimeError("boom"), 1, ["energysim: failed: RuntimeError: boom", "--debug"]),
    (MemoryError(), 1, ["energysim: failed: out of memory"]),
    (OSError(28, "No space left on device", "x.png"), 1, ["energysim: failed: x.png: No space left on device"]),
], ids=["ctrl-c", "bug", "memory", "disk-full"])
def test_failure_while_writing_keeps_the_previous_run(previous_run, capsys, monkeypatch, exc, rc, needles):
    before = snapshot(previous_run)

    def half_done(report, out_dir, stem=None):  # one figure written, then the failure
        plots.plot_level_share(report, Path(out_dir) / f"{stem}_level_share.png")
        raise exc

    monkeypatch.setattr(plots, "write_figures", half_done)
    expect_error(main, ["estimate", "alexnet", "--out", previous_run], capsys, *needles, rc=rc, out=previous_run,
                 before=before)


def test_failure_while_writing_a_new_folder_leaves_none(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plots, "write_figures", _boom(KeyboardInterrupt()))
    out = tmp_path / "a" / "b" / "out"
    expect_error(main, ["estimate", "lenet5", "--out", out], capsys, "interrupted", rc=130, out=out, before=None)
    assert not (tmp_path / "a").exists()  # the parent folders made for it are gone too


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plots, "write_figures", _boom(RuntimeError("boom")))
    rc, _, err = run(main, ["estimate", "lenet5", "--out", tmp_path / "o", "--debug"], capsys)
    assert rc == 1 and "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1] == "energysim: failed: RuntimeError: boom"
    rc, _, err = run(main, ["--debug", "estimate", "lenet5", "--profile", "nosuch"], capsys)
    assert rc == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("energysim: error: unknown")


def test_interrupted_sweep_and_compress(tmp_path, capsys, monkeypatch):
    import dkm.pipeline
    import energysim.analysis.sweep as sweep

    monkeypatch.setattr(sweep, "run_sweep", _boom(KeyboardInterrupt()))
    out = tmp_path / "sweep"
    expect_error(main, ["sweep", "digits_cnn", "--pe", "4x4", "--out", out], capsys, "energysim: interrupted",
                 rc=130, out=out, before=None)
    monkeypatch.setattr(dkm.pipeline, "compress", _boom(KeyboardInterrupt()))
    out = tmp_path / "dkm"
    expect_error(dkm_main, ["compress", "digits_cnn", "--data", "digits", "--out", out], capsys, "dkm: interrupted",
                 rc=130, out=out, before=None)


def _ctrl_c_on_a_terminal(argv, wait_for: bytes, cwd, timeout=150):
    """Run ``argv`` with stderr on a pty (so progress shows), press Ctrl-C once ``wait_for`` appeared;
    (exit status, what the terminal showed)."""
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "100"}
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    shown, sent, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if not sent and wait_for in shown:
            p.send_signal(signal.SIGINT)
            sent = True
        if sent and p.poll() is not None and not select.select([master], [], [], 0.2)[0]:
            break
    if not sent:
        p.kill()
    rc = p.wait(timeout=60)
    os.close(master)
    assert sent, f"{wait_for!r} never appeared: {shown[-2000:]!r}"
    return rc, shown.decode(errors="replace")


def _last_line(text: str) -> str:
    text = text.replace("\x1b[K", "").replace("\x1b[A", "")
    return [ln for ln in text.replace("\r", "\n").splitlines() if ln.strip()][-1].strip()


@pytest.mark.slow
def test_ctrl_c_during_training_on_a_terminal(tmp_path):
    out = tmp_path / "run"
    rc, shown = _ctrl_c_on_a_terminal(
        [sys.executable, "-m", "dkm", "compress", "digits_cnn", "--data", "digits", "--pretrain-epochs", "200",
         "--out", str(out)], b"pretrain", tmp_path)
    assert rc == 130 and "Traceback" not in shown and "KeyboardInterrupt" not in shown
    assert _last_line(shown) == "dkm: interrupted"
    assert "<" in shown  # the bar showed an ETA
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_a_parallel_sweep_on_a_terminal(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "designs.csv").write_text("previous run\n")
    rc, shown = _ctrl_c_on_a_terminal(
        [sys.executable, "-m", "energysim", "sweep", "lenet5", "--dataflow", "rs-template", "--workers", "2",
         "--pe", ",".join(f"{r}x{c}" for r in range(2, 32) for c in range(2, 32)), "--out", str(out)],
        b" ok energy=", tmp_path)  # the pool is running: a design is done
    assert rc == 130 and "Traceback" not in shown and "KeyboardInterrupt" not in shown  # workers stay quiet
    assert _last_line(shown) == "energysim: interrupted"
    assert snapshot(out) == {"designs.csv": b"previous run\n"}
