"""Transformer models of the zoo, shape-faithful and written here (no weights downloaded): ViT-B/16, BERT-base
(encoder) and GPT-2 small. Registered in ``energysim.workload.zoo``.

Each uses a different way of writing attention, so that tracing covers all three: ViT ``nn.MultiheadAttention``,
BERT explicit ``matmul`` + ``softmax`` on per-head views, GPT-2 ``F.scaled_dot_product_attention`` with a causal
mask. MACs at batch 1 (checked in the tests against closed forms): ViT-B/16 17,563,828,224; BERT-base at sequence
128 11,173,625,856.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _MLP(nn.Sequential):
    def __init__(self, d: int, hidden: int):
        super().__init__(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))


# ---------------------------------------------------------------------------------------------------------
# ViT-B/16
# ---------------------------------------------------------------------------------------------------------
class ViTBlock(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = _MLP(d, hidden)

    def forward(self, x):
        y = self.ln1(x)
        a, _ = self.attn(y, y, y, need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """ViT-B/16 (Dosovitskiy et al. 2021): 224x224 images, 16x16 patches, a class token, 12 layers of width 768
    with 12 heads and MLP 3072, classification from the class token."""

    def __init__(self, num_classes: int = 1000, image: int = 224, patch: int = 16, d: int = 768, depth: int = 12,
                 heads: int = 12, hidden: int = 3072):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, d))
        self.blocks = nn.Sequential(*[ViTBlock(d, heads, hidden) for _ in range(depth)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.ln(self.blocks(x))
        return self.head(x[:, 0])


# ---------------------------------------------------------------------------------------------------------
# BERT-base (encoder only)
# ---------------------------------------------------------------------------------------------------------
class BertSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def _split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.dh).transpose(1, 2)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        ctx = torch.matmul(scores.softmax(dim=-1), v)
        return self.out(ctx.transpose(1, 2).reshape(b, t, d))


class BertLayer(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int):
        super().__init__()
        self.attention = BertSelfAttention(d, heads)
        self.ln1 = nn.LayerNorm(d)
        self.mlp = _MLP(d, hidden)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x):
        x = self.ln1(x + self.attention(x))
        return self.ln2(x + self.mlp(x))


class Bert(nn.Module):
    """BERT-base (Devlin et al. 2019) encoder: word, position and token-type embeddings, 12 post-norm layers of
    width 768 with 12 heads and MLP 3072; no pooler or classifier. Input: token ids (batch, sequence)."""

    def __init__(self, num_classes: int = 0, vocab: int = 30522, max_len: int = 512, d: int = 768, depth: int = 12,
                 heads: int = 12, hidden: int = 3072):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.position = nn.Embedding(max_len, d)
        self.token_type = nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.Sequential(*[BertLayer(d, heads, hidden) for _ in range(depth)])

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(pos) + self.token_type(torch.zeros_like(pos))
        return self.layers(self.ln(x))


# ---------------------------------------------------------------------------------------------------------
# GPT-2 small
# ---------------------------------------------------------------------------------------------------------
class GPT2Attention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.d = heads, d
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(self.d, dim=2)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class GPT2Block(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = GPT2Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = _MLP(d, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """GPT-2 small (Radford et al. 2019): 12 pre-norm layers of width 768 with 12 heads and MLP 3072, causal
    attention, language-model head tied to the token embedding. Input: token ids (batch, sequence)."""

    def __init__(self, num_classes: int = 0, vocab: int = 50257, max_len: int = 1024, d: int = 768, depth: int = 12,
                 heads: int = 12, hidden: int = 3072):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(max_len, d)
        self.h = nn.Sequential(*[GPT2Block(d, heads, hidden) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.h(self.wte(ids) + self.wpe(pos))
        return F.linear(self.ln_f(x), self.wte.weight)  # the LM head shares the token embedding


# ---------------------------------------------------------------------------------------------------------
# A small transformer for the bundled 8x8 digits
# ---------------------------------------------------------------------------------------------------------
class DigitsViT(nn.Module):
    """A small vision transformer for scikit-learn's 8x8 digits: 2x2 patches (16 tokens) embedded to width 32,
    two post-norm layers with 4 heads (explicit query/key/value projections, so that every projection is an
    ``nn.Linear`` that ``dkm`` can share) and MLP 64, mean over tokens, a linear classifier."""

    def __init__(self, num_classes: int = 10, d: int = 32, depth: int = 2, heads: int = 4, hidden: int = 64):
        super().__init__()
        self.patch = nn.Conv2d(1, d, 2, 2)
        self.pos = nn.Parameter(torch.zeros(1, 16, d))
        self.layers = nn.Sequential(*[BertLayer(d, heads, hidden) for _ in range(depth)])
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.layers(x).mean(dim=1))
