"""dkm: Deep k-Means (Wu et al., ICML 2018) -- CNN compression by k-means weight sharing over kernel row
vectors, re-trained under a (spectrally relaxed or hard) k-means regularizer.

Typical use::

    import dkm
    from energysim import zoo
    model, data = zoo.build("digits_cnn"), dkm.data.load("digits")
    res = dkm.compress(model, data, dkm.CompressConfig(cluster_rate=0.05, regularizer="hard"))
    dkm.save("out/model.dkm", res.model, res.shared, model_name="digits_cnn")
    art = dkm.load("out/model.dkm")            # art.model: weights bit-identical to res.model
    records = dkm.codebook_records(art)        # energysim.costs.codebook.CodebookRecord per layer

Modules: grouping (weights <-> sample matrix), kmeans, layers (which layers, K per layer), share (k-means
sharing, the two sparsity rules, lookup tables), regularizers, differentiable (differentiable k-means), train (loop,
evaluate, centroid fine-tuning), pipeline, data, artifact, ratio (Han's, entropy, the authors' convention),
records, export (ONNX), cli.
"""

from . import data
from .artifact import Artifact, load, save
from .differentiable import DifferentiableKMeans
from .errors import ArtifactError, DKMError
from .export import export_onnx
from .grouping import group, ungroup
from .kmeans import KMeansResult, kmeans, kmeans_plusplus
from .layers import LayerSpec, resolve_layers
from .pipeline import CompressConfig, CompressResult, compress
from .progress import Progress
from .ratio import han_ratio, ratios
from .records import codebook_records
from .regularizers import HardRegularizer, KMeansRegularizer, SpectralRegularizer
from .share import SharedLayer, share_weights
from .train import evaluate, finetune_centroids, train

__all__ = [
    "Artifact", "ArtifactError", "CompressConfig", "CompressResult", "DKMError", "DifferentiableKMeans",
    "HardRegularizer",
    "KMeansRegularizer", "KMeansResult", "LayerSpec", "Progress", "SharedLayer", "SpectralRegularizer",
    "codebook_records", "compress", "data", "evaluate", "export_onnx", "finetune_centroids", "group", "han_ratio", "kmeans",
    "kmeans_plusplus", "load", "ratios", "resolve_layers", "save", "share_weights", "train", "ungroup",
]
