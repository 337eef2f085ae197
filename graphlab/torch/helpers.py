"""The few PyTorch functions that graphlab ops need beyond one ``torch`` call.

Each function here is plain PyTorch, written to be read: :func:`to_torch`'s
module calls them, and :func:`graphlab.torch.to_source` copies the source of
those a graph uses into the exported file (so that file imports nothing from
graphlab). They must therefore use only ``torch``, ``F`` (``torch.nn.functional``),
``nn`` and ``math``, and other functions of this module by name.

Like all of graphlab, this module does not import PyTorch when imported:
:func:`load` does, binding ``torch``, ``F`` and ``nn`` here (and defining
:class:`Stats`, from ``STATS_SOURCE``) before any helper runs.
"""

import math

__all__ = ["HELPERS", "STATS_SOURCE", "load", "pads", "pad_window", "max_pool2d",
           "avg_pool2d", "max_unpool2d", "maxout", "dropout", "kl_div", "js_div",
           "rnn", "lstm", "gru", "upsample2d"]

torch = F = nn = Stats = None  # bound by load()

STATS_SOURCE = '''class Stats(nn.Module):
    """BatchNorm running statistics of one node, as buffers."""

    def __init__(self, channels):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
'''


def load():
    """Import PyTorch into this module (once); returns ``{name: helper}``, the
    namespace a generated module runs in."""
    global torch, F, nn, Stats
    if torch is None:
        import torch as _torch
        import torch.nn.functional as _F
        from torch import nn as _nn
        torch, F, nn = _torch, _F, _nn
        ns = {"torch": torch, "nn": nn}
        exec(STATS_SOURCE, ns)
        Stats = ns["Stats"]
    out = {"torch": torch, "F": F, "nn": nn, "math": math}
    out.update({name: globals()[name] for name in HELPERS})
    return out


def pads(size, kernel, stride, dilation, mode):
    """``(before, after)`` padding of one axis: an int pads both sides; "valid",
    "same" (the odd one after) and "full" as TensorFlow and the textbooks."""
    span = (kernel - 1) * dilation + 1
    if not isinstance(mode, str):
        return mode, mode
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return span - 1, span - 1
    out = -(-size // stride)  # "same": ceil(size / stride) outputs
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def pad_window(x, kernel, stride, dilation, mode, value=0.0):
    """``x`` padded on its trailing spatial axes for a window op (len(kernel) axes)."""
    widths = []
    for a in reversed(range(len(kernel))):
        size = x.shape[x.dim() - len(kernel) + a]
        widths += pads(size, kernel[a], stride[a], dilation[a], mode[a] if isinstance(
            mode, (tuple, list)) else mode)
    if not any(widths):
        return x
    return F.pad(x, widths, value=value)


def max_pool2d(x, kernel, stride, mode, with_indices):
    """Max pooling with any padding; indices are flat positions in x's H×W plane."""
    H, W = x.shape[2:]
    (pt, _), (pl, _) = (pads(H, kernel[0], stride[0], 1, _axis(mode, 0)),
                        pads(W, kernel[1], stride[1], 1, _axis(mode, 1)))
    xp = pad_window(x, kernel, stride, (1, 1), mode, value=-math.inf)
    if not with_indices:
        return F.max_pool2d(xp, kernel, stride)
    out, idx = F.max_pool2d(xp, kernel, stride, return_indices=True)
    Wp = xp.shape[3]
    return out, (idx // Wp - pt) * W + idx % Wp - pl


def _axis(mode, a):
    return mode[a] if isinstance(mode, (tuple, list)) else mode


def avg_pool2d(x, kernel, stride, mode, count_include_pad=True):
    """Mean pooling with any padding, counted in the mean or (count_include_pad
    false) not."""
    out = F.avg_pool2d(pad_window(x, kernel, stride, (1, 1), mode), kernel, stride)
    if count_include_pad:
        return out
    inside = pad_window(torch.ones_like(x[:1, :1]), kernel, stride, (1, 1), mode)
    return out / F.avg_pool2d(inside, kernel, stride)


def max_unpool2d(x, indices, size):
    """``out[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]``, zero elsewhere."""
    N, C = x.shape[:2]
    out = x.new_zeros(N * C, size[0] * size[1])
    out = out.scatter(1, indices.reshape(N * C, -1).long(), x.reshape(N * C, -1))
    return out.reshape(N, C, size[0], size[1])


def maxout(x, pieces, axis):
    """Channel c of the result is the maximum of channels c·k … c·k + k − 1."""
    axis %= x.dim()
    shape = x.shape[:axis] + (x.shape[axis] // pieces, pieces) + x.shape[axis + 1:]
    return x.reshape(shape).max(dim=axis + 1).values


def dropout(x, p, training):
    """Inverted dropout: keep with probability 1 − p, scaled by 1/(1 − p)."""
    if not training or p == 0:
        return x
    return x * ((torch.rand_like(x) >= p).to(x.dtype) / (1 - p))


def _xlogy_ratio(x, y):
    """x·log(x/y), 0 (and no gradient) where x = 0."""
    nz = x != 0
    one = torch.ones_like(x)
    return torch.where(nz, x * (torch.log(torch.where(nz, x, one))
                                - torch.log(torch.where(nz, y, one))), 0 * x)


def kl_div(p, q):
    """Σ p·log(p/q) over the last axis, averaged over the rows."""
    return _xlogy_ratio(p, q).sum(dim=-1).mean()


def js_div(p, q):
    """½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, averaged over the rows."""
    m = (p + q) / 2
    return ((_xlogy_ratio(p, m) + _xlogy_ratio(q, m)).sum(dim=-1) / 2).mean()


def rnn(x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity):
    """Elman RNN over batch-first ``x``: ``(y, h)``."""
    h = x.new_zeros(x.shape[0], w_hh.shape[1]) if h0 is None else h0
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    xs = F.linear(x, w_ih, b_ih)
    ys = []
    for t in range(x.shape[1]):
        h = act(xs[:, t] + F.linear(h, w_hh, b_hh))
        ys.append(h)
    return torch.stack(ys, 1), h


def lstm(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
    """LSTM over batch-first ``x``, gates i, f, g, o: ``(y, h, c)``."""
    H = w_hh.shape[1]
    h = x.new_zeros(x.shape[0], H) if h0 is None else h0
    c = x.new_zeros(x.shape[0], H) if c0 is None else c0
    xs = F.linear(x, w_ih, b_ih)
    ys = []
    for t in range(x.shape[1]):
        i, f, g, o = (xs[:, t] + F.linear(h, w_hh, b_hh)).split(H, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, 1), h, c


def gru(x, w_ih, w_hh, b_ih, b_hh, h0):
    """GRU over batch-first ``x``, gates r, z, n: ``(y, h)``."""
    H = w_hh.shape[1]
    h = x.new_zeros(x.shape[0], H) if h0 is None else h0
    xs = F.linear(x, w_ih, b_ih)
    ys = []
    for t in range(x.shape[1]):
        xr, xz, xn = xs[:, t].split(H, dim=1)
        hr, hz, hn = F.linear(h, w_hh, b_hh).split(H, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys, 1), h


def upsample2d(x, scale, mode):
    """Each pixel repeated (nearest) or interpolated (bilinear, corners not aligned)."""
    if mode == "nearest":
        return x.repeat_interleave(scale[0], 2).repeat_interleave(scale[1], 3)
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


# Which helpers each helper calls, so that an export copies all it needs.
HELPERS = {
    "Stats": (), "pads": (), "pad_window": ("pads",), "_axis": (),
    "max_pool2d": ("pads", "pad_window", "_axis"), "avg_pool2d": ("pad_window",),
    "max_unpool2d": (), "maxout": (), "dropout": (), "_xlogy_ratio": (),
    "kl_div": ("_xlogy_ratio",), "js_div": ("_xlogy_ratio",), "rnn": (), "lstm": (),
    "gru": (), "upsample2d": (),
}
