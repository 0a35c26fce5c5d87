"""Int8 Linear layers whose answer for a token never depends on its batch mates.

PyTorch's dynamic quantization takes one activation scale for its whole input, so in a padded
batch a post's states depended on the other posts (by up to 0.12 in hate probability) unless
every text went through every Linear on its own, which cost most of the model's time. Here each
token row gets its own scale (symmetric, 8 bits), the weights one scale per output channel, and
the product is an exact int32 matrix product: a row's result is bit-for-bit the same alone, in
any batch and beside any padding, so the whole batch runs as one matrix product per Linear.
Per-token scales are also closer to fp32 than one scale per text.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

QMAX = 127.0  # symmetric int8: -127..127 (-128 unused, so negation never overflows)


class PerTokenInt8Linear(nn.Module):  # type: ignore[misc]  # torch is untyped to mypy here
    """`nn.Linear` on int8: activations quantized per token row, weights per output channel."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        w_scale = weight.abs().amax(1).clamp(min=1e-12) / QMAX
        # stored (in, out) and contiguous: the layout torch._int_mm wants for its second operand
        self.register_buffer("w_int8", torch.round(weight / w_scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("w_scale", w_scale)
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros(weight.shape[0])
        self.register_buffer("bias", bias)
        self.in_features = int(linear.in_features)
        self.out_features = int(linear.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        x_scale = rows.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(QMAX)
        x_int8 = torch.round(rows / x_scale).to(torch.int8)
        out = torch._int_mm(x_int8, self.w_int8).float()  # exact: int32 sums do not depend on order
        out.mul_(x_scale).mul_(self.w_scale).add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)


def quantize_per_token(model: Any) -> Any:
    """Replace every `nn.Linear` of `model` (in place) by a `PerTokenInt8Linear`; returns `model`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, PerTokenInt8Linear(child))
    return model
