import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dkm.errors import DKMError
from dkm.grouping import group, ungroup, vector_size



@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 6), c=st.integers(1, 5), r=st.integers(1, 5), s=st.integers(1, 5),
       mode=st.sampled_from(["row", "kernel", "scalar"]))
def test_conv_inverse(m, c, r, s, mode):
    w = torch.randn(m, c, r, s)
    W = group(w, mode)
    expect = {"row": (s, m * c * r), "kernel": (r * s, m * c), "scalar": (1, m * c * r * s)}[mode]
    assert tuple(W.shape) == expect
    assert torch.equal(ungroup(W, w.shape), w)


def test_row_columns_are_kernel_rows():
    w = torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3)
    W = group(w)
    assert torch.equal(W[:, 0], w[0, 0, 0])
    assert torch.equal(W[:, 4], w[0, 1, 1])  # column index = (m*C + c)*R + r


def test_1x1_conv_gives_scalars():
    assert group(torch.randn(8, 4, 1, 1)).shape == (1, 32)


def test_linear_vectors_and_errors():
    w = torch.randn(5, 12)
    W = group(w, linear_vector_size=4)
    assert W.shape == (4, 15) and torch.equal(W[:, 1], w[0, 4:8])
    assert torch.equal(ungroup(W, w.shape), w)
    with pytest.raises(DKMError, match="divide"):
        vector_size((5, 12), linear_vector_size=5)
    with pytest.raises(DKMError, match="mode"):
        vector_size((5, 12, 3, 3), mode="bogus")


def test_group_is_differentiable():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    (group(w) ** 2).sum().backward()
    assert torch.allclose(w.grad, 2 * w)
