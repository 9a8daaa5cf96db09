"""A clean install works: the built wheel, installed into a fresh virtual environment that sees only the declared
runtime dependencies, runs ``energysim estimate``, ``dkm compress --data digits`` and ``dkm score`` from a folder
outside the repository.

The dependencies are not downloaded: each distribution that the wheel's ``Requires-Dist`` needs (followed through
their own requirements) is linked from this test environment into a folder that the fresh environment reads
through a ``.pth`` file. Only those: a dependency missing from ``pyproject.toml`` (scikit-learn was, once) fails
here with ``ModuleNotFoundError``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements(reqs: list[str] | None) -> list[str]:
    from packaging.requirements import Requirement

    names = []
    for text in reqs or []:
        r = Requirement(text)
        if r.marker is not None and not r.marker.evaluate({"extra": ""}):
            continue  # an extra, or another platform / Python
        names.append(r.name)
    return names


def _closure(names: list[str]) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        todo += _requirements(dist.requires)
    return list(seen.values())


def _link_deps(dists, folder: Path) -> None:
    folder.mkdir()
    for dist in dists:
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            src = Path(dist.locate_file(top))
            if src.exists() and not (folder / top).exists():
                (folder / top).symlink_to(src)


def _run(argv, cwd, env, timeout=240):
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{argv[0]} {' '.join(argv[1:3])}: exit {r.returncode}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.mark.slow
def test_wheel_in_a_fresh_venv(tmp_path):
    # built from a copy: an in-tree build/ folder would outlive the files it copied (and leak into later wheels)
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".*", "build", "dist", "site", "out", "runs", "_work",
                                                             "__pycache__", "*.egg-info", "tests", "docs"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(wheels), str(src)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.skip(f"the wheel cannot be built offline here: {build.stderr.strip().splitlines()[-1:]}")
    wheel = next(wheels.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "energysim/hw_profiles/eyeriss-65nm.yaml" in names and not any(n.startswith("tests/") for n in names)
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)],
         tmp_path, None)
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, None)
                .strip())
    _link_deps(_closure(_requirements(requires)), tmp_path / "deps")
    (site / "deps.pth").write_text(str(tmp_path / "deps") + "\n")

    work = tmp_path / "elsewhere"  # outside the repository: nothing of the checkout is on the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    where = _run([str(py), "-c", "import energysim, dkm; print(energysim.__file__); print(dkm.__file__)"], work, env)
    assert all(str(site) in line for line in where.split()), where
    assert _run([str(venv / "bin" / "energysim"), "--version"], work, env).startswith("energysim 0.1")

    est = json.loads(_run([str(venv / "bin" / "energysim"), "estimate", "resnet18", "--json"], work, env))
    assert est["kind"] == "energysim.estimate" and est["total_macs"] == 1_814_073_344
    comp = json.loads(_run([str(venv / "bin" / "dkm"), "compress", "digits_cnn", "--data", "digits",
                            "--pretrain-epochs", "1", "--retrain-epochs", "1", "--finetune-epochs", "0", "--quiet",
                            "--json", "--out", "run"], work, env))
    assert comp["kind"] == "dkm.compress" and (work / "run" / "model.dkm").is_file()
    score = json.loads(_run([str(venv / "bin" / "dkm"), "score", "run/model.dkm", "--json", "--out", "score"],
                            work, env))
    assert score["kind"] == "dkm.score" and 0 < score["reduction"] < 1 and (work / "score" / "score.json").is_file()
