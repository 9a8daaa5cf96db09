"""Densities (non-zero fractions) of feature maps: checked, measured on real data, per layer.

Density is the fraction of *non-zero* elements (Eyeriss reports the complement: "zeros in input maps").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from energysim.errors import EnergySimError
from energysim.model.streaming import applied_in_place

def check_density(density: Any, what: str = "density") -> float:
    if isinstance(density, (bool, str)):  # JSON true would be 1.0 and "0.5" a number, silently
        raise EnergySimError(f"{what} must be a number in [0, 1], got {density!r}")
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise EnergySimError(f"{what} must be a number in [0, 1], got {density!r}") from None
    if not 0.0 <= d <= 1.0:  # also rejects NaN
        raise EnergySimError(f"{what} must be in [0, 1], got {density!r}")
    return d


def _batches(inputs) -> Iterable:
    import torch

    if isinstance(inputs, torch.Tensor):
        return [inputs]
    if isinstance(inputs, Iterable):
        return inputs
    raise EnergySimError(f"inputs must be a tensor or an iterable of batches, got {type(inputs).__name__}")


def measure_densities(module, inputs) -> dict[str, dict[str, float]]:
    """Fraction of non-zeros in each conv/linear layer's input and output, on real data.

    ``inputs``: a tensor (one batch) or an iterable of batches, each a tensor or a tuple/list whose first item
    is the input (a DataLoader of ``(x, y)`` works). Densities are pooled over all batches (non-zeros / elements).
    Keys are the module's qualified names, the names ``energysim.trace`` gives call_module layers; a module
    called k > 1 times in one forward pass gives ``name``, ``name#2``, ... as trace does. The module runs in
    eval mode under ``torch.no_grad`` and is restored to its previous mode.
    """
    import torch
    from torch import nn

    if not isinstance(module, nn.Module):
        raise EnergySimError(f"measure_densities needs a torch.nn.Module, got {type(module).__name__}")
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    counts: dict[str, list[int]] = {}  # name -> [input nonzeros, input elements, output nonzeros, output elements]
    calls: dict[str, int] = {}
    order: list[str] = []

    def hook_for(qname: str):
        def hook(_mod, args, out):
            k = calls.get(qname, 0) + 1
            calls[qname] = k
            key = qname if k == 1 else f"{qname}#{k}"
            x = args[0] if args else None
            if not isinstance(x, torch.Tensor) or not isinstance(out, torch.Tensor):
                return  # called with keyword-only inputs: nothing to count reliably
            c = counts.get(key)
            if c is None:
                c = counts[key] = [0, 0, 0, 0]
                order.append(key)
            c[0] += int(torch.count_nonzero(x))
            c[1] += x.numel()
            c[2] += int(torch.count_nonzero(out))
            c[3] += out.numel()

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in module.named_modules() if isinstance(m, kinds)]
    was_training = module.training
    module.eval()
    seen = 0
    try:
        with torch.no_grad():
            for batch in _batches(inputs):
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                if not isinstance(x, torch.Tensor):
                    raise EnergySimError(f"batch {seen}: expected a tensor input, got {type(x).__name__}")
                calls.clear()  # repeated calls are numbered within one forward pass
                module(x)
                seen += 1
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    if seen == 0:
        raise EnergySimError("measure_densities got no input batches")
    return {
        k: {"inputs": counts[k][0] / counts[k][1] if counts[k][1] else 0.0,
            "outputs": counts[k][2] / counts[k][3] if counts[k][3] else 0.0}
        for k in order
    }


DATA_SPACES = ("inputs", "outputs", "weights", "inputs2")
#: ``inputs2`` names the second input of a matmul of two activations, which sits in the weight position
_ALIAS = {"inputs2": "weights"}


def validate_density(layer: str, value: Any, what: str = "inputs") -> float:
    """``value`` as a float in [0, 1]; otherwise an ``EnergySimError`` naming the layer, the data space and the value."""
    return check_density(value, f"layer {layer!r}: {what} density")


def validate_densities(densities: Mapping[str, Any], network=None) -> dict[str, dict[str, float]]:
    """Check a per-layer density table and return it normalized to ``{layer: {data space: density}}``.

    Each value is a mapping over ``inputs`` / ``outputs`` / ``weights`` (``inputs2``: the second input of a
    matmul of two activations, stored as ``weights``, its position in the einsum) or a bare number, which
    applies to inputs and outputs. With a ``network``, every layer name must be one of its layers.
    """
    if not isinstance(densities, Mapping):
        raise EnergySimError(f"densities must be a mapping of layer name to densities, got {type(densities).__name__}")
    out: dict[str, dict[str, float]] = {}
    names = {l.name for l in network} if network is not None else None
    for layer, spec in densities.items():
        if names is not None and layer not in names:
            raise EnergySimError(f"density given for layer {layer!r}, which is not in network {network.name!r}")
        if isinstance(spec, Mapping):
            bad = set(spec) - set(DATA_SPACES)
            if bad:
                raise EnergySimError(
                    f"layer {layer!r}: unknown data space {sorted(bad)[0]!r} in densities; use {', '.join(DATA_SPACES)}"
                )
            out[layer] = {_ALIAS.get(k, k): validate_density(layer, v, k) for k, v in spec.items()}
        else:
            v = validate_density(layer, spec, "inputs")
            out[layer] = {"inputs": v, "outputs": v}
    return out


def measure_network_densities(module, inputs, network) -> dict[str, dict[str, float]]:
    """``sparsity.measure_densities`` plus the density of what each MAC layer actually stores.

    ``measure_densities`` sees a conv/linear output before its activation. When ``network`` applies an
    activation in place as the layer's outputs drain (``estimate.applied_in_place``), the stored output is
    the activation's output, so the layer's ``outputs`` density is replaced by the density measured at that
    activation module (ReLU and friends, hooked here under the names ``trace`` gives them).
    """
    import torch
    from torch import nn


    dens = measure_densities(module, inputs)
    acts = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Threshold, nn.Hardswish, nn.GELU, nn.SiLU, nn.LeakyReLU)
    counts: dict[str, list[int]] = {}
    calls: dict[str, int] = {}

    def hook_for(qname):
        def hook(_mod, _args, out):
            k = calls.get(qname, 0) + 1
            calls[qname] = k
            if isinstance(out, torch.Tensor):
                c = counts.setdefault(qname if k == 1 else f"{qname}#{k}", [0, 0])
                c[0] += int(torch.count_nonzero(out))
                c[1] += out.numel()

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in module.named_modules() if isinstance(m, acts)]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for batch in _batches(inputs):
                calls.clear()
                module(batch[0] if isinstance(batch, (tuple, list)) else batch)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for layer in network:
        producer = applied_in_place(network, layer)
        if producer and producer in dens and layer.name in counts and counts[layer.name][1]:
            nz, n = counts[layer.name]
            dens[producer]["outputs"] = nz / n
    names = {l.name for l in network}
    return {k: v for k, v in dens.items() if k in names}
