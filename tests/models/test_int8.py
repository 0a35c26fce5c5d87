"""The per-token int8 Linear of the hate model's bottom: close to fp32, and a row's result is
bit-for-bit the same alone, in any batch and beside padding (what makes batched == unbatched)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gavel.training.int8 import PerTokenInt8Linear, fastest_kernel, int_mm_float, quantize_per_token
from gavel.training.model import ModelConfig


def _layer(seed: int = 0) -> tuple[torch.nn.Linear, PerTokenInt8Linear]:
    torch.manual_seed(seed)
    fp32 = torch.nn.Linear(384, 96)
    return fp32, PerTokenInt8Linear(fp32)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 40), pick=st.integers(0, 39), scale=st.floats(1e-3, 1e3))
def test_a_row_is_the_same_alone_and_in_any_batch(rows: int, pick: int, scale: float) -> None:
    _, q = _layer()
    gen = torch.Generator().manual_seed(rows * 1000 + pick)
    x = torch.randn(rows, 384, generator=gen) * scale
    x[rows // 2 :] *= 50  # batch mates with much larger activations must not change the others
    i = pick % rows
    assert torch.equal(q(x)[i], q(x[i : i + 1])[0])


def test_close_to_fp32_and_keeps_shape() -> None:
    fp32, q = _layer(1)
    x = torch.randn(3, 7, 384)
    with torch.inference_mode():
        exact, approx = fp32(x), q(x)
    assert approx.shape == exact.shape == (3, 7, 96)
    rel = (approx - exact).norm() / exact.norm()
    assert 0 < rel < 0.02, rel  # int8, so not exact; per-token scales keep it within 2%


def test_quantize_per_token_swaps_every_linear() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(8, 2)))
    quantize_per_token(model)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert sum(isinstance(m, PerTokenInt8Linear) for m in model.modules()) == 2


def test_a_model_trained_on_another_quantization_is_refused() -> None:
    from gavel.training.model import Bottom

    old = json.loads(ModelConfig().to_json())
    del old["bottom_quantization"]  # hate-minilm 2 and earlier: one activation scale per batch
    cfg = ModelConfig.from_json(json.dumps(old))
    assert cfg.bottom_quantization == "int8_per_tensor"
    with pytest.raises(ValueError, match="retrain"):
        Bottom(cfg, "cpu")


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 33), k=st.sampled_from([8, 384, 1040, 1041, 1536, 3000]), extreme=st.booleans())
def test_the_float_kernel_gives_int_mm_s_integers(rows: int, k: int, extreme: bool) -> None:
    gen = torch.Generator().manual_seed(rows * 7 + k)
    if extreme:  # every product at its largest, the same sign: the partial sums' worst case
        a = torch.full((rows, k), 127, dtype=torch.int8)
        b = torch.full((k, 17), -127, dtype=torch.int8)
    else:
        a = torch.randint(-127, 128, (rows, k), dtype=torch.int8, generator=gen)
        b = torch.randint(-127, 128, (k, 17), dtype=torch.int8, generator=gen)
    expected = a.long() @ b.long()  # int64: the exact answer, whatever the kernels do
    assert torch.equal(int_mm_float(a, b).long(), expected)
    if rows > 16:  # torch._int_mm wants more than 16 rows on some builds
        assert torch.equal(torch._int_mm(a, b).long(), expected)


def test_both_kernels_give_a_layer_the_same_answer() -> None:
    torch.manual_seed(3)
    fp32 = torch.nn.Linear(1536, 384)
    x = torch.randn(2, 40, 1536) * 3
    with torch.inference_mode():
        assert torch.equal(PerTokenInt8Linear(fp32, "float")(x), PerTokenInt8Linear(fp32, "int_mm")(x))
    assert fastest_kernel() in ("int_mm", "float")
    with pytest.raises(ValueError, match="unknown int8 kernel"):
        PerTokenInt8Linear(fp32, "fp16")  # type: ignore[arg-type]
