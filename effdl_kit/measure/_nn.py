"""Small PyTorch wrappers that give a module type a one-tensor forward (imports torch)."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["LSTMOutput", "SelfAttention"]


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` used as self-attention: ``forward(x) = mha(x, x, x)[0]``."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(self, x: Any) -> Any:
        return self.mha(x, x, x, need_weights=False)[0]


class LSTMOutput(nn.Module):
    """One-layer batch-first LSTM returning its output sequence only."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: Any) -> Any:
        return self.lstm(x)[0]
