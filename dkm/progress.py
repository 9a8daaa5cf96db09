"""Progress of dkm's training loop: the command lines' one progress helper (``energysim.cli.progress``): a tqdm
bar per training phase with ETA on a terminal, silent otherwise unless ``Progress(enabled=True)`` (plain lines:
``[   4.1s] retrain    3/10  loss=0.1200``); ``log(msg)`` adds a timestamped line."""

from energysim.cli.progress import Progress

__all__ = ["Progress", "QUIET"]

QUIET = Progress(enabled=False)
