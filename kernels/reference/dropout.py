"""Dropout: apply a precomputed keep-mask and a scale (the layer draws the mask from its seeded Generator).

dropout:   y = x * mask * scale;   dx = dy * mask * scale          x, y, dx, dy, mask (n,)
dropout2d: the same with one mask entry per (sample, channel) row:  x, y (R, L), mask (R,)
mask is uint8 (0 = dropped, 1 = kept); scale = 1/(1-p) for inverted dropout, 1 for the textbook
variant (which scales by 1-p at inference instead).
"""


__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward"]


def dropout_forward(y, mask, x, scale):
    y[...] = x * (mask * scale)


def dropout_backward(dx, dy, mask, scale):
    dx[...] = dy * (mask * scale)


def dropout2d_forward(y, mask, x, scale):
    y[...] = x * (mask * scale)[:, None]


def dropout2d_backward(dx, dy, mask, scale):
    dx[...] = dy * (mask * scale)[:, None]
