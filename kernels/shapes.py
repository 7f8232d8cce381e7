"""Output and workspace shapes shared by every backend (pure Python, no numba)."""


def conv_out_size(size: int, k: int, s: int, p: int) -> int:
    """floor((size + 2p - k) / s) + 1, PyTorch's output size for dilation 1."""
    return (size + 2 * p - k) // s + 1


def conv2d_columns_per_sample(x_shape, w_shape, sh, sw, ph, pw) -> int:
    """Columns one sample occupies in the conv GEMM: OH*Wp on the stride-1 "wide" grid, else OH*OW."""
    _, _, h, w = x_shape
    _, _, kh, kw = w_shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    return oh * (w + 2 * pw) if sh == 1 and sw == 1 else oh * ow


def conv2d_workspace_shapes(x_shape, w_shape, sh, sw, ph, pw, nchunks):
    """Shapes of (col, ws_y, ws_xp, ws_dw) for conv2d_forward / conv2d_backward (ws_g has ws_y's shape,
    ws_dcol col's, ws_dxp ws_xp's).

    The batch is split into ``nchunks`` contiguous sample ranges, one per thread; chunk t's im2col
    matrix (C*KH*KW, samples_t * S) and GEMM output (O, samples_t * S) are contiguous slices of the
    flat ``col`` / ``ws_y``, so each thread runs its own single-threaded BLAS GEMM (S: columns per
    sample, conv2d_columns_per_sample). Stride 1 uses the "wide" grid: x is padded once into ws_xp
    (N, C, H+2PH+1, W+2PW) and each im2col row of a (sample, channel, tap) is ONE contiguous run of
    the padded plane (15-20x faster than OH runs of OW: kernels/lab/conv_layouts.py); other strides
    use the standard layout and no padded copy. ws_dw holds one (C*KH*KW, O) partial per chunk.
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    cols = n * conv2d_columns_per_sample(x_shape, w_shape, sh, sw, ph, pw)
    xp = (n, c, h + 2 * ph + 1, w + 2 * pw) if sh == 1 and sw == 1 else (0, 0, 0, 0)
    return (c * kh * kw * cols,), (o * cols,), xp, (nchunks * c * kh * kw * o,)
