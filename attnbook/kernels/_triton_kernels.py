"""The Triton kernels of FlashAttention: one forward kernel and two backward kernels.

Do not import this module directly: :mod:`attnbook.kernels.triton_flash` imports it on first use,
after deciding whether Triton runs on a GPU or in its CPU interpreter (``TRITON_INTERPRET=1``,
which must be set *before* any ``@triton.jit`` function is created, i.e. before this module runs).

Layout: every tensor is 3-D and contiguous, ``(batch * heads, n, d)``; ``lse`` and ``delta`` are
``(batch * heads, n_q)`` float32. One program handles one block of ``BLOCK_M`` queries (forward,
``dQ``) or ``BLOCK_N`` keys (``dK``, ``dV``) of one batch-head, the second grid axis. Rows and
columns past the end of a sequence (the ragged last block) and head-dimension lanes past ``d``
(``BLOCK_D`` is ``d`` rounded up to a power of two) are masked on load (filled with 0) and on
store. Causal masking is top-left aligned: query ``i`` sees keys ``0..i``.

Scores are taken in base 2: ``s2 = (q . k) * scale * log2(e)``, so ``exp(x) = exp2(x * log2 e)``
(``exp2`` is the GPU's native instruction); the stored ``lse`` is the natural log-sum-exp.

``tl.dot`` on float32 inputs uses TF32 tensor cores on NVIDIA GPUs by default (10-bit mantissa:
relative errors around 1e-3); ``INPUT_PRECISION="ieee"`` asks for true float32 products, which
the tight float32 tests need. For float16/bfloat16 inputs the products are exact in the float32
accumulator and the option does nothing. ``UPCAST_DOT`` is True only in the CPU interpreter, whose
NumPy ``matmul`` cannot multiply bfloat16 (it stores them as raw uint16 bits): the operands are
converted to float32 first, which gives the same products a GPU computes.
"""

import triton
import triton.language as tl

# Constants written out in the kernels: 1.4426950408889634 = log2(e), 0.6931471805599453 = ln(2).


@triton.jit
def _dot(a, b, INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr):
    """``a @ b`` accumulated in float32."""
    if UPCAST_DOT:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, input_precision=INPUT_PRECISION)


@triton.jit
def flash_forward_kernel(
    Q, K, V, Out, Lse,  # pointers: (BH, n_q, d), (BH, n_k, d), (BH, n_k, d_v), (BH, n_q, d_v), (BH, n_q)
    n_q, n_k, head_dim, value_dim, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):
    block_m = tl.program_id(0)  # which block of queries
    head = tl.program_id(1)  # which (batch, head)
    rows = block_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) query indices
    dims = tl.arange(0, BLOCK_D)
    value_dims = tl.arange(0, BLOCK_DV)
    row_ok = rows < n_q

    q = tl.load(Q + head * n_q * head_dim + rows[:, None] * head_dim + dims[None, :],
                mask=row_ok[:, None] & (dims[None, :] < head_dim), other=0.0)  # (BLOCK_M, BLOCK_D)
    row_max = tl.full([BLOCK_M], float("-inf"), tl.float32)  # m, in base-2 units
    row_sum = tl.zeros([BLOCK_M], tl.float32)  # l
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)  # unnormalised output
    qk_scale = scale * 1.4426950408889634  # scale * log2(e)

    k_stop = n_k
    if CAUSAL:  # keys after this block's last query are never seen
        k_stop = tl.minimum(n_k, (block_m + 1) * BLOCK_M)
    for k_start in range(0, k_stop, BLOCK_N):
        cols = k_start + tl.arange(0, BLOCK_N)  # (BLOCK_N,) key indices
        col_ok = cols < n_k
        k = tl.load(K + head * n_k * head_dim + cols[:, None] * head_dim + dims[None, :],
                    mask=col_ok[:, None] & (dims[None, :] < head_dim), other=0.0)  # (BLOCK_N, BLOCK_D)
        v = tl.load(V + head * n_k * value_dim + cols[:, None] * value_dim + value_dims[None, :],
                    mask=col_ok[:, None] & (value_dims[None, :] < value_dim), other=0.0)  # (BLOCK_N, BLOCK_DV)
        scores = _dot(q, tl.trans(k), INPUT_PRECISION, UPCAST_DOT) * qk_scale  # (BLOCK_M, BLOCK_N)
        allowed = col_ok[None, :]
        if CAUSAL:
            allowed = allowed & (cols[None, :] <= rows[:, None])
        scores = tl.where(allowed, scores, float("-inf"))
        # Every row sees key 0 (top-left causal mask), so new_max is finite from the first block on.
        new_max = tl.maximum(row_max, tl.max(scores, 1))
        rescale = tl.math.exp2(row_max - new_max)  # exp(m_old - m_new); 0 on the first block
        probs = tl.math.exp2(scores - new_max[:, None])  # (BLOCK_M, BLOCK_N)
        row_sum = row_sum * rescale + tl.sum(probs, 1)
        acc = acc * rescale[:, None] + _dot(probs.to(v.dtype), v, INPUT_PRECISION, UPCAST_DOT)
        row_max = new_max

    out = acc / row_sum[:, None]
    tl.store(Out + head * n_q * value_dim + rows[:, None] * value_dim + value_dims[None, :],
             out.to(Out.dtype.element_ty), mask=row_ok[:, None] & (value_dims[None, :] < value_dim))
    lse = (row_max + tl.math.log2(row_sum)) * 0.6931471805599453  # natural log-sum-exp
    tl.store(Lse + head * n_q + rows, lse, mask=row_ok)


@triton.jit
def flash_backward_dkdv_kernel(
    Q, K, V, GradOut, Lse, Delta, GradK, GradV,
    n_q, n_k, head_dim, value_dim, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):
    """One program per block of keys: dV = sum over queries of P^T dO, dK = sum of dS^T Q * scale."""
    block_n = tl.program_id(0)
    head = tl.program_id(1)
    cols = block_n * BLOCK_N + tl.arange(0, BLOCK_N)  # key indices
    dims = tl.arange(0, BLOCK_D)
    value_dims = tl.arange(0, BLOCK_DV)
    col_ok = cols < n_k
    k = tl.load(K + head * n_k * head_dim + cols[:, None] * head_dim + dims[None, :],
                mask=col_ok[:, None] & (dims[None, :] < head_dim), other=0.0)  # (BLOCK_N, BLOCK_D)
    v = tl.load(V + head * n_k * value_dim + cols[:, None] * value_dim + value_dims[None, :],
                mask=col_ok[:, None] & (value_dims[None, :] < value_dim), other=0.0)  # (BLOCK_N, BLOCK_DV)
    grad_k = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    grad_v = tl.zeros([BLOCK_N, BLOCK_DV], tl.float32)
    qk_scale = scale * 1.4426950408889634

    q_start = 0
    if CAUSAL:  # queries before this block's first key never see it
        q_start = (block_n * BLOCK_N // BLOCK_M) * BLOCK_M
    for m_start in range(q_start, n_q, BLOCK_M):
        rows = m_start + tl.arange(0, BLOCK_M)
        row_ok = rows < n_q
        q = tl.load(Q + head * n_q * head_dim + rows[:, None] * head_dim + dims[None, :],
                    mask=row_ok[:, None] & (dims[None, :] < head_dim), other=0.0)  # (BLOCK_M, BLOCK_D)
        grad_out = tl.load(GradOut + head * n_q * value_dim + rows[:, None] * value_dim + value_dims[None, :],
                           mask=row_ok[:, None] & (value_dims[None, :] < value_dim), other=0.0)
        lse = tl.load(Lse + head * n_q + rows, mask=row_ok, other=0.0)  # (BLOCK_M,)
        delta = tl.load(Delta + head * n_q + rows, mask=row_ok, other=0.0)
        scores = _dot(q, tl.trans(k), INPUT_PRECISION, UPCAST_DOT) * qk_scale  # (BLOCK_M, BLOCK_N), base 2
        allowed = row_ok[:, None] & col_ok[None, :]
        if CAUSAL:
            allowed = allowed & (cols[None, :] <= rows[:, None])
        probs = tl.where(allowed, tl.math.exp2(scores - lse[:, None] * 1.4426950408889634), 0.0)  # P, recomputed
        grad_v += _dot(tl.trans(probs.to(grad_out.dtype)), grad_out, INPUT_PRECISION, UPCAST_DOT)  # P^T dO
        grad_probs = _dot(grad_out, tl.trans(v), INPUT_PRECISION, UPCAST_DOT)  # dP = dO V^T
        grad_scores = probs * (grad_probs - delta[:, None])  # dS = P (dP - D)
        grad_k += _dot(tl.trans(grad_scores.to(q.dtype)), q, INPUT_PRECISION, UPCAST_DOT)  # dS^T Q

    grad_k = grad_k * scale
    tl.store(GradK + head * n_k * head_dim + cols[:, None] * head_dim + dims[None, :],
             grad_k.to(GradK.dtype.element_ty), mask=col_ok[:, None] & (dims[None, :] < head_dim))
    tl.store(GradV + head * n_k * value_dim + cols[:, None] * value_dim + value_dims[None, :],
             grad_v.to(GradV.dtype.element_ty), mask=col_ok[:, None] & (value_dims[None, :] < value_dim))


@triton.jit
def flash_backward_dq_kernel(
    Q, K, V, GradOut, Lse, Delta, GradQ,
    n_q, n_k, head_dim, value_dim, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):
    """One program per block of queries: dQ = sum over keys of dS K * scale."""
    block_m = tl.program_id(0)
    head = tl.program_id(1)
    rows = block_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    value_dims = tl.arange(0, BLOCK_DV)
    row_ok = rows < n_q
    q = tl.load(Q + head * n_q * head_dim + rows[:, None] * head_dim + dims[None, :],
                mask=row_ok[:, None] & (dims[None, :] < head_dim), other=0.0)
    grad_out = tl.load(GradOut + head * n_q * value_dim + rows[:, None] * value_dim + value_dims[None, :],
                       mask=row_ok[:, None] & (value_dims[None, :] < value_dim), other=0.0)
    lse = tl.load(Lse + head * n_q + rows, mask=row_ok, other=0.0)
    delta = tl.load(Delta + head * n_q + rows, mask=row_ok, other=0.0)
    grad_q = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    qk_scale = scale * 1.4426950408889634

    k_stop = n_k
    if CAUSAL:
        k_stop = tl.minimum(n_k, (block_m + 1) * BLOCK_M)
    for k_start in range(0, k_stop, BLOCK_N):
        cols = k_start + tl.arange(0, BLOCK_N)
        col_ok = cols < n_k
        k = tl.load(K + head * n_k * head_dim + cols[:, None] * head_dim + dims[None, :],
                    mask=col_ok[:, None] & (dims[None, :] < head_dim), other=0.0)
        v = tl.load(V + head * n_k * value_dim + cols[:, None] * value_dim + value_dims[None, :],
                    mask=col_ok[:, None] & (value_dims[None, :] < value_dim), other=0.0)
        scores = _dot(q, tl.trans(k), INPUT_PRECISION, UPCAST_DOT) * qk_scale
        allowed = row_ok[:, None] & col_ok[None, :]
        if CAUSAL:
            allowed = allowed & (cols[None, :] <= rows[:, None])
        probs = tl.where(allowed, tl.math.exp2(scores - lse[:, None] * 1.4426950408889634), 0.0)
        grad_probs = _dot(grad_out, tl.trans(v), INPUT_PRECISION, UPCAST_DOT)  # dP = dO V^T
        grad_scores = probs * (grad_probs - delta[:, None])  # dS = P (dP - D)
        grad_q += _dot(grad_scores.to(k.dtype), k, INPUT_PRECISION, UPCAST_DOT)  # dS K

    grad_q = grad_q * scale
    tl.store(GradQ + head * n_q * head_dim + rows[:, None] * head_dim + dims[None, :],
             grad_q.to(GradQ.dtype.element_ty), mask=row_ok[:, None] & (dims[None, :] < head_dim))
