"""CAM++ speaker embedding network (3D-Speaker's reference architecture) and its Kaldi fbank front end.

CAM++ (Wang et al., "CAM++: A Fast and Efficient Network for Speaker Verification Using Context-Aware
Masking", Interspeech 2023) maps 80-dim log-mel filterbanks to a 192-dim speaker embedding:

    fbank (B, T, 80)
      → FCM head: 2-D residual convolutions over (frequency, time), frequency /8     → (B, 32·10, T)
      → TDNN, kernel 5, stride 2                                                      → (B, 128, T/2)
      → 3 × [dense TDNN block with context-aware masking → transit layer (halves channels)]
      → batchnorm + ReLU → mean/std statistics pooling → dense layer + batchnorm (no ReLU)  → (B, 192)

The output layer ends with a plain (non-affine) batchnorm: the embedding keeps its sign, and a ReLU there
(as some repackagings add) destroys the cosine geometry the model was trained for. Module names follow the
published checkpoints so that their state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FBANK_DIM", "CAMPPlus", "fbank", "normalize_fbank"]

FBANK_DIM = 80
"""Mel bins of the Kaldi filterbank CAM++ was trained on."""


def fbank(waveform: torch.Tensor, sample_rate: int = 16_000) -> torch.Tensor:
    """Kaldi-compatible 80-dim log-mel filterbank of one mono waveform, without mean normalisation.

    ``waveform`` has shape ``(num_samples,)`` with values in [-1, 1]; the result has shape
    ``(num_frames, 80)`` with 25 ms windows every 10 ms (Kaldi's ``snip_edges``: the first frame starts at
    sample 0, ``num_frames = 1 + (num_samples - 400) // 160``). No dither, so the result is deterministic.
    """
    from torchaudio.compliance import kaldi

    return kaldi.fbank(
        waveform.reshape(1, -1).float(),
        num_mel_bins=FBANK_DIM,
        sample_frequency=float(sample_rate),
        dither=0.0,
    )


def normalize_fbank(features: torch.Tensor) -> torch.Tensor:
    """Subtract the per-utterance mean of each mel bin; ``features`` has shape ``(num_frames, 80)``."""
    return features - features.mean(dim=0, keepdim=True)


class _BNReLU(nn.Sequential):
    """Batchnorm then ReLU, named ``batchnorm`` / ``relu`` as in the checkpoints."""

    def __init__(self, channels: int) -> None:
        super().__init__(OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU())]))


class _ResBlock2d(nn.Module):
    """Basic 2-D residual block; ``stride`` subsamples the frequency axis only."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """Front-end convolution module: (B, F, T) → (B, channels·F/8, T)."""

    def __init__(self, feat_dim: int = FBANK_DIM, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock2d(channels, channels, 2), _ResBlock2d(channels, channels, 1))
        self.layer2 = nn.Sequential(_ResBlock2d(channels, channels, 2), _ResBlock2d(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last 2-D convolutions run about 1.5x faster on CPU (oneDNN); the numbers are the same
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        # shape: (batch, channels, freq / 8, time) → (batch, channels * freq / 8, time)
        return out.contiguous().flatten(1, 2)


class _TDNN(nn.Module):
    """1-D convolution then batchnorm + ReLU ('same' padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.nonlinear = _BNReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local TDNN output gated by utterance- and segment-level context."""

    SEGMENT_FRAMES = 100

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            bn_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // 2, 1)
        self.relu = nn.ReLU()
        self.linear2 = nn.Conv1d(bn_channels // 2, out_channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self._segment_mean(x)
        return y * self.sigmoid(self.linear2(self.relu(self.linear1(context))))

    def _segment_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over consecutive 100-frame segments, broadcast back to every frame of the segment."""
        seg = self.SEGMENT_FRAMES
        pooled = F.avg_pool1d(x, kernel_size=seg, stride=seg, ceil_mode=True)
        # shape: (batch, channels, num_segments) → (batch, channels, num_segments * seg) → cut to time
        return pooled.repeat_interleave(seg, dim=-1)[..., : x.shape[-1]]


class _CAMDenseLayer(nn.Module):
    """Bottlenecked dense-TDNN layer whose output is concatenated to its input by the block."""

    def __init__(
        self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int, dilation: int
    ):
        super().__init__()
        self.nonlinear1 = _BNReLU(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _BNReLU(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseBlock(nn.ModuleList):
    """``num_layers`` dense layers; each adds ``growth`` channels."""

    def __init__(
        self, num_layers: int, in_channels: int, growth: int, bn_channels: int, dilation: int
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _CAMDenseLayer(in_channels + i * growth, growth, bn_channels, 3, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    """Batchnorm + ReLU then a 1×1 convolution (channel reduction between blocks)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _BNReLU(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    """Concatenated mean and (unbiased) standard deviation over time: (B, C, T) → (B, 2C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # dim=1, not -1: the same tensor, and an axis ONNX export can state for a dynamic time axis
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=1)


class _Dense(nn.Module):
    """Embedding layer: 1×1 convolution then a non-affine batchnorm, and no activation."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(
            OrderedDict([("batchnorm", nn.BatchNorm1d(out_channels, affine=False))])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # shape: (batch, in_channels) → (batch, out_channels)
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++: ``forward(features (B, T, 80)) -> (B, embedding_size)`` unnormalised embeddings.

    ``features`` are mean-normalised Kaldi fbanks (:func:`fbank`, :func:`normalize_fbank`). Every item of a
    batch must have the same number of frames (at least 2 after the stride-2 TDNN, so at least 3 frames).

    With :attr:`runtime` set (an :class:`~diarize.speakers.nets.onnx.OnnxRuntime` of this network's export,
    as ``ModelCache.campplus("onnx")`` attaches it), ``forward`` runs there instead of in torch.
    """

    BLOCKS = ((12, 1), (24, 2), (16, 2))  # (layers, dilation) of the three dense blocks

    def __init__(
        self,
        feat_dim: int = FBANK_DIM,
        embedding_size: int = 192,
        growth_rate: int = 32,
        bn_size: int = 4,
        init_channels: int = 128,
    ) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.runtime: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.head = _FCM(feat_dim=feat_dim)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["tdnn"] = _TDNN(self.head.out_channels, init_channels, 5, stride=2)
        channels = init_channels
        for i, (num_layers, dilation) in enumerate(self.BLOCKS, start=1):
            layers[f"block{i}"] = _CAMDenseBlock(
                num_layers, channels, growth_rate, bn_size * growth_rate, dilation
            )
            channels += num_layers * growth_rate
            layers[f"transit{i}"] = _Transit(channels, channels // 2)
            channels //= 2
        layers["out_nonlinear"] = _BNReLU(channels)
        layers["stats"] = _StatsPool()
        layers["dense"] = _Dense(channels * 2, embedding_size)
        self.xvector = nn.Sequential(layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.runtime is not None:
            return self.runtime(features)
        # shape: (batch, time, freq) → (batch, freq, time)
        return self.xvector(self.head(features.transpose(1, 2)))
