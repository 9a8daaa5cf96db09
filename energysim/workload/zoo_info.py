"""What the model zoo holds, without torch: each built-in model's name, input shape, classes and description.

``energysim models`` lists the zoo from here (importing torch to print a list took longer than the rest of the
command); ``energysim.workload.zoo`` builds its registry from these entries and adds the torch builders, so the two
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from energysim.errors import EnergySimError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: tuple[int, ...]  # one sample: (C, H, W) of an image, (sequence,) of token ids
    num_classes: int
    description: str
    #: token ids (``torch.long``) for the language models, else float images
    token_ids: bool = False
    vocab: int = 0


MODELS: dict[str, ModelInfo] = {
    e.name: e
    for e in [
        ModelInfo("lenet5", (1, 28, 28), 10, "LeNet-5, Caffe variant (20-50-500-10) on 28x28 MNIST"),
        ModelInfo("digits_cnn", (1, 8, 8), 10, "small CNN for scikit-learn's 8x8 digits"),
        ModelInfo("alexnet", (3, 227, 227), 1000, "original two-group AlexNet on 227x227 (as Eyeriss measured)"),
        ModelInfo("vgg16", (3, 224, 224), 1000, "VGG-16 on 224x224"),
        ModelInfo("googlenet", (3, 224, 224), 1000, "GoogLeNet v1 (no auxiliary heads) on 224x224"),
        ModelInfo("resnet18", (3, 224, 224), 1000, "ResNet-18 on 224x224"),
        ModelInfo("resnet50", (3, 224, 224), 1000, "ResNet-50 v1.5 on 224x224"),
        ModelInfo("wrn16_4", (3, 32, 32), 10, "Wide ResNet 16-4, pre-activation, conv bias, dropout 0.3, CIFAR-10 32x32 "
                  "(the Deep k-Means authors' definition)"),
        ModelInfo("mobilenet_v2", (3, 224, 224), 1000, "MobileNet-v2 (width 1.0) on 224x224"),
        ModelInfo("digits_vit", (1, 8, 8), 10, "small vision transformer for the 8x8 digits (2x2 patches)"),
        ModelInfo("vit_b16", (3, 224, 224), 1000, "ViT-B/16 on 224x224 (16x16 patches, class token, 12 layers)"),
        ModelInfo("bert_base", (128,), 0, "BERT-base encoder at sequence 128 (no pooler or classifier)",
                  token_ids=True, vocab=30522),
        ModelInfo("gpt2", (256,), 0, "GPT-2 small at sequence 256, causal, LM head tied to the embedding",
                  token_ids=True, vocab=50257),
    ]
}


def info(name: str) -> ModelInfo:
    """The entry of zoo model ``name``; ``EnergySimError`` listing the choices when there is none."""
    try:
        return MODELS[name]
    except KeyError:
        raise EnergySimError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def names() -> list[str]:
    return list(MODELS)
