"""Where ../shared (data and Timeloop reference outputs) lies: beside the repository, as in CI."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
TIMELOOP = SHARED / "validation" / "timeloop"
MNIST_DIR = SHARED / "datasets" / "mnist"
