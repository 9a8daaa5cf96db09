"""Only what pyproject.toml cannot say: the repository's top-level ``hw_profiles/`` folder installs as the package
data ``energysim.hw_profiles``, so that site-packages gains no generic top-level package besides energysim and
dkm (a package-dir mapping, which ``packages.find`` does not combine with)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["energysim", "energysim.*", "dkm", "dkm.*"]) + ["energysim.hw_profiles"],
    package_dir={"energysim.hw_profiles": "hw_profiles"},
)
