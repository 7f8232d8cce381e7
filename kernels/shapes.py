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
WINOGRAD_TILE = 4         # F(4x4, 3x3): output tile side (kernels/cpu/winograd.py)
WINOGRAD_PLANE_PAD = 16   # elements between the planes of V, M and S (kernels/cpu/winograd.py)


def winograd_slot_size(c_in: int, c_out: int, cap: int) -> int:
    """Elements of one chunk's Winograd slot for a block of ``cap`` tiles: V (36 planes of c_in x cap), the
    transforms' scratch (36 of max(c_in, c_out) x cap), M (36 of c_out x cap) and the output transform's S (24 of
    c_out x cap), each plane WINOGRAD_PLANE_PAD longer."""
    return (36 * ((c_in + max(c_in, c_out) + c_out) * cap + 3 * WINOGRAD_PLANE_PAD)
            + 24 * (c_out * cap + WINOGRAD_PLANE_PAD))


def conv2d_winograd(x_shape, w_shape, sh, sw) -> bool:
    """Whether the CPU forward uses Winograd F(4x4, 3x3) (kernels/cpu/winograd.py): 3x3 kernels, stride 1, at
    least WINOGRAD_MIN_CHANNELS input channels (fewer: the 36 GEMMs are too thin; kernels/lab/winograd.py)."""
    return w_shape[2] == 3 and w_shape[3] == 3 and sh == 1 and sw == 1 and x_shape[1] >= WINOGRAD_MIN_CHANNELS


def conv2d_winograd_dx(x_shape, w_shape, sh, sw) -> bool:
    """Whether the CPU backward computes dx by Winograd too: a Winograd forward with at least
    WINOGRAD_MIN_CHANNELS output channels (the input channels of dx's convolution), at most 9x the input
    channels (the block's output gradient then fits in the freed dcol slot)."""
    o, c = w_shape[0], x_shape[1]
    return conv2d_winograd(x_shape, w_shape, sh, sw) and WINOGRAD_MIN_CHANNELS <= o <= 9 * c


def conv2d_winograd_dw(x_shape, w_shape, sh, sw) -> bool:
    """Whether the CPU backward with Winograd dx takes dw by Winograd too (dU = dM V^T over the tiles, dw =
    G^T dU G; kernels/cpu/winograd.py): with more output than input channels, where the tap-by-tap dw
    (kernels/cpu/conv.py) does not apply (backward at batch 64: 32->64 16x16 8.4 -> 6.4-7.7 ms; with O = C it lost
    to the taps: 16->16 28x28 3.5 vs 4.1-5.6 ms, 64->64 7x7 4.6 vs 5.5). Its ws_dw then holds a (36, O, C) dU
    partial per chunk."""
    return conv2d_winograd_dx(x_shape, w_shape, sh, sw) and w_shape[0] > x_shape[1]


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
    Winograd forward (conv2d_winograd): ws_y grows to hold, per slot, a block's V (36, C, G*TH*TW), M
    (36, O, G*TH*TW) and S (24, O, G*TH*TW) (winograd_slot_size), plus the transformed filter U (36, O, C) at its
    end, and ws_xp to hold a sample's (C, 4*TH+2, 4*TW+2) padded planes (TH, TW = ceil(OH/4), ceil(OW/4)).
    Winograd dx (conv2d_winograd_dx) uses the same space with C and O swapped and the tiles of dx (TH, TW =
    ceil(H/4), ceil(W/4); the larger counts size the workspaces); the block's output gradient g then lives in its
    ws_dcol slot (no dcol GEMM).
    """
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    slots = nchunks * conv2d_group(n, nchunks, group)
    cols = slots * conv2d_columns_per_sample(x_shape, w_shape, sh, sw, ph, pw)
    ws_y, rows = o * cols, h + 2 * ph + 1
    if conv2d_winograd(x_shape, w_shape, sh, sw):
        # tiles of y (forward) and of dx (backward: a 3x3 stride-1 convolution of dy with padding 2 - p)
        t = WINOGRAD_TILE
        th = -(-max(conv_out_size(h, kh, sh, ph), h) // t)
        tw = -(-max(conv_out_size(w, kw, sw, pw), w) // t)
        cap = slots // nchunks * th * tw
        slot = max(winograd_slot_size(c, o, cap), winograd_slot_size(o, c, cap))
        ws_y = max(ws_y, nchunks * slot + 36 * o * c)
        rows = max(rows, -(-max(c, o) * (t * th + 2) * (t * tw + 2) // (c * (w + 2 * pw))))
    xp = (nchunks, c, rows, w + 2 * pw) if sh == 1 and sw == 1 else (0, 0, 0, 0)
    dw_slot = 36 * c if conv2d_winograd_dw(x_shape, w_shape, sh, sw) else 2 * c * kh * kw
    return (c * kh * kw * cols,), (ws_y,), xp, (nchunks * (dw_slot + 1) * o,)
