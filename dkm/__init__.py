"""dkm: Deep k-Means."""
