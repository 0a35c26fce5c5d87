"""Int8 Linear layers whose answer for a token never depends on its batch mates.

PyTorch's dynamic quantization takes one activation scale for its whole input, so in a padded
batch a post's states depended on the other posts (by up to 0.12 in hate probability) unless
every text went through every Linear on its own, which cost most of the model's time. Here each
token row gets its own scale (symmetric, 8 bits), the weights one scale per output channel, and
the product is an exact int32 matrix product: a row's result is bit-for-bit the same alone, in
any batch and beside any padding, so the whole batch runs as one matrix product per Linear.
Per-token scales are also closer to fp32 than one scale per text.

Two kernels give that same int32 product. `torch._int_mm` is fast where the CPU has int8 dot
product instructions (VNNI, AMX) and about 30x slower than a float32 GEMM where it has not (an
AVX2-only AMD EPYC: 470 ms against 14 ms for 512x384 by 384x1536). The float kernel multiplies the
int8 values as float32, in slices of the inner dimension short enough that every partial sum
stays below 2**24, where float32 holds integers exactly, and adds the slices as int32: the very
same integers in any summation order. So the choice changes speed, never an answer; "auto" times
both once on this machine and keeps the faster.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

QMAX = 127.0  # symmetric int8: -127..127 (-128 unused, so negation never overflows)
# |a product| <= 127 * 127, so a float32 sum of up to this many products is an exact integer
FLOAT_EXACT_TERMS = int(2**24 // (QMAX * QMAX))  # 1040
Kernel = Literal["auto", "int_mm", "float"]
KERNELS: tuple[Kernel, ...] = ("auto", "int_mm", "float")
Measured = Literal["int_mm", "float"]  # the kernels themselves, what "auto" chooses among

log = logging.getLogger(__name__)


def int_mm_float(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`torch._int_mm(a, b)` (int8 @ int8 -> exact int32) through float32 GEMMs: `a` (m, k) int8
    or its float32 copy, `b` (k, n) the same."""
    k = a.shape[1]
    slices = -(-k // FLOAT_EXACT_TERMS)
    step = -(-k // slices)
    out: torch.Tensor | None = None
    for start in range(0, k, step):
        part = (a[:, start : start + step].float() @ b[start : start + step].float()).to(torch.int32)
        out = part if out is None else out.add_(part)
    assert out is not None
    return out


@functools.cache
def fastest_kernel() -> Measured:
    """The faster of the two kernels on this machine, timed once on a layer's shape."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (64, 384), dtype=torch.int8, generator=gen)
    b = torch.randint(-127, 128, (384, 1536), dtype=torch.int8, generator=gen)
    b_float = b.float()
    runs: dict[Measured, Callable[[], torch.Tensor]] = {
        "int_mm": lambda: torch._int_mm(a, b),
        "float": lambda: int_mm_float(a, b_float),
    }
    timings: dict[Measured, float] = {}
    for name, run in runs.items():
        try:
            run()  # warm up (and find out whether this build has the kernel at all)
            start = time.perf_counter()
            for _ in range(3):
                run()
            timings[name] = time.perf_counter() - start
        except RuntimeError:
            timings[name] = float("inf")
    best = min(timings, key=lambda name: timings[name])
    log.info(
        "int8 kernel: %s (3 products of 64x384 by 384x1536: int_mm %.1f ms, float %.1f ms)",
        best,
        timings["int_mm"] * 1e3,
        timings["float"] * 1e3,
    )
    return best


class PerTokenInt8Linear(nn.Module):  # type: ignore[misc]  # torch is untyped to mypy here
    """`nn.Linear` on int8: activations quantized per token row, weights per output channel."""

    def __init__(self, linear: nn.Linear, kernel: Kernel = "auto") -> None:
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown int8 kernel {kernel!r}: one of {', '.join(KERNELS)}")
        self.kernel: Measured = fastest_kernel() if kernel == "auto" else kernel
        weight = linear.weight.detach().float()
        w_scale = weight.abs().amax(1).clamp(min=1e-12) / QMAX
        # stored (in, out) and contiguous: the layout torch._int_mm wants for its second operand
        self.register_buffer("w_int8", torch.round(weight / w_scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("w_scale", w_scale)
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros(weight.shape[0])
        self.register_buffer("bias", bias)
        if self.kernel == "float":  # the same int8 values, kept as float32 for the GEMM
            self.register_buffer("w_float", self.w_int8.float())
        self.in_features = int(linear.in_features)
        self.out_features = int(linear.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        x_scale = rows.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(QMAX)
        x_int8 = torch.round(rows / x_scale).to(torch.int8)
        float_kernel = self.kernel == "float"
        product = int_mm_float(x_int8, self.w_float) if float_kernel else torch._int_mm(x_int8, self.w_int8)
        out = product.float()  # exact int32 sums, whichever kernel: they do not depend on order
        out.mul_(x_scale).mul_(self.w_scale).add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)


def quantize_per_token(model: Any, kernel: Kernel = "auto") -> Any:
    """Replace every `nn.Linear` of `model` (in place) by a `PerTokenInt8Linear`; returns `model`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, PerTokenInt8Linear(child, kernel))
    return model
