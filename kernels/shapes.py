"""Output and workspace shapes shared by every backend (pure Python, no numba)."""


def conv_out_size(size: int, k: int, s: int, p: int) -> int:
    """floor((size + 2p - k) / s) + 1, PyTorch's output size for dilation 1."""
    return (size + 2 * p - k) // s + 1


def linear_workspace_shape(n: int, k: int, m: int, nchunks: int) -> tuple[int]:
    """Shape of linear_backward's ws_dw for x (N, K), w (M, K) in ``nchunks`` chunks: per chunk, its output
    features' gT (M_t, N) and weight-gradient product (M_t, K), M_t = ceil(M / nchunks) (kernels/cpu/matmul.py;
    the reference and CUDA kernels take it and leave it unused)."""
    return (nchunks * -(-m // nchunks) * (n + k),)


def conv2d_columns_per_sample(x_shape, w_shape, sh, sw, ph, pw) -> int:
    """Columns one sample occupies in the conv GEMM: OH*Wp on the stride-1 "wide" grid, else OH*OW."""
    _, _, h, w = x_shape
    _, _, kh, kw = w_shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    return oh * (w + 2 * pw) if sh == 1 and sw == 1 else oh * ow


def conv2d_group(n: int, nchunks: int, group: int | None = None) -> int:
    """Samples per GEMM block: ``group``, or ceil(N / nchunks) (one block per chunk) when None."""
    return -(-n // nchunks) if group is None else max(1, min(group, -(-n // nchunks)))


WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_PLANE_PAD = 16   # elements between the 16 planes of V and M (kernels/cpu/winograd.py)


def conv2d_winograd(x_shape, w_shape, sh, sw) -> bool:
    """Whether the CPU forward uses Winograd F(2x2, 3x3) (kernels/cpu/winograd.py): 3x3 kernels, stride 1, at
    least WINOGRAD_MIN_CHANNELS input channels (fewer: the 16 GEMMs are too thin; kernels/lab/winograd.py)."""
    return w_shape[2] == 3 and w_shape[3] == 3 and sh == 1 and sw == 1 and x_shape[1] >= WINOGRAD_MIN_CHANNELS


def conv2d_winograd_dx(x_shape, w_shape, sh, sw) -> bool:
    """Whether the CPU backward computes dx by Winograd too: a Winograd forward with at least
    WINOGRAD_MIN_CHANNELS output channels (the input channels of dx's convolution), at most 9x the input
    channels (the block's output gradient then fits in the freed dcol slot)."""
    o, c = w_shape[0], x_shape[1]
    return conv2d_winograd(x_shape, w_shape, sh, sw) and WINOGRAD_MIN_CHANNELS <= o <= 9 * c


def conv2d_workspace_shapes(x_shape, w_shape, sh, sw, ph, pw, nchunks, group=None):
    """Shapes of (col, ws_y, ws_xp, ws_dw) for conv2d_forward / conv2d_backward (ws_g has ws_y's shape,
    ws_dcol col's, ws_dxp ws_xp's).

    The batch is split into ``nchunks`` contiguous sample ranges, one per thread; a chunk works through its
    samples in blocks of G = conv2d_group(N, nchunks, group) samples, and the workspaces hold one block per
    chunk ("slot" t): the im2col block (C*KH*KW, G*S) at col[t*C*KH*KW*G*S:], the GEMM output (O, G*S) at
    ws_y[t*O*G*S:], and each thread runs its own single-threaded BLAS GEMM on them (S: columns per sample,
    conv2d_columns_per_sample). Blocks sized to the cache keep im2col -> GEMM -> epilogue in L2: a batch-sized
    im2col matrix streams through memory instead. G is recovered by the kernels as col.size //
    (nchunks*C*KH*KW*S), so every backend sees it through the workspace sizes (G = ceil(N/nchunks), the default,
    is one block per chunk: with nchunks = 1 the whole batch). Stride 1 uses the "wide" grid: each sample is
    padded into its chunk's plane of ws_xp (nchunks, C, H+2PH+1, W+2PW) and each im2col row of a (sample, channel,
    tap) is ONE contiguous run of the padded plane (15-20x faster than OH runs of OW:
    kernels/lab/conv_layouts.py); other strides use the standard layout and no padded copy. ws_dw holds, per
    chunk, a (C*KH*KW, O) partial of dw, one more for a block's product and an (O,) partial of db.
    Winograd forward (conv2d_winograd): ws_y grows to hold, per slot, a block's V (16, C, G*TH*TW) and M
    (16, O, G*TH*TW) (planes WINOGRAD_PLANE_PAD apart), plus the transformed filter U (16, O, C) at its end, and
    ws_xp to hold a sample's (C, 2*TH+2, 2*TW+2) padded planes (TH, TW = ceil(OH/2), ceil(OW/2)), reused as the
    output transform's (8, TH*TW) scratch. Winograd dx (conv2d_winograd_dx) uses the same space with C and O
    swapped and the tiles of dx (TH, TW = ceil(H/2), ceil(W/2); the larger counts size the workspaces); the
    block's output gradient g then lives in its ws_dcol slot (no dcol GEMM).
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    slots = nchunks * conv2d_group(n, nchunks, group)
    cols = slots * conv2d_columns_per_sample(x_shape, w_shape, sh, sw, ph, pw)
    ws_y, rows = o * cols, h + 2 * ph + 1
    if conv2d_winograd(x_shape, w_shape, sh, sw):
        # tiles of y (forward) and of dx (backward: a 3x3 stride-1 convolution of dy with padding 2 - p)
        th = max((conv_out_size(h, kh, sh, ph) + 1) // 2, (h + 1) // 2)
        tw = max((conv_out_size(w, kw, sw, pw) + 1) // 2, (w + 1) // 2)
        cap = slots // nchunks * th * tw
        ws_y = max(ws_y, nchunks * 16 * ((c + o) * cap + 2 * WINOGRAD_PLANE_PAD) + 16 * o * c)
        rows = max(rows, -(-max(c, o) * (2 * th + 2) * (2 * tw + 2) // (c * (w + 2 * pw))))
    xp = (nchunks, c, rows, w + 2 * pw) if sh == 1 and sw == 1 else (0, 0, 0, 0)
    return (c * kh * kw * cols,), (ws_y,), xp, (nchunks * (2 * c * kh * kw + 1) * o,)
