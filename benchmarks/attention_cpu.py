"""CPU attention benchmark: NumPy, PyTorch, F.scaled_dot_product_attention and the book's flash_attention.

Usage: python benchmarks/attention_cpu.py [--sizes 256 512 ...] [--d 64] [--repeats 7] [--threads 1]
                                          [--implementations numpy torch F.sdpa flash F.sdpa4d]

Prints median time and peak memory (growth of peak RSS, one fresh process per measurement) for
n_queries = n_keys = n, by default at n = 256 ... 4096 and 16384 (about 2-3 minutes on an idle
CPU; the naive versions need several GiB at 16384). ``F.sdpa`` gets (n, d) inputs, which PyTorch
runs with its math backend; ``F.sdpa4d`` gets (1, 1, n, d), which uses its fused flash CPU kernel;
``flash`` is attnbook.flash_attention (chapter 6). The measuring code lives in attnbook/bench.py,
which chapter 2 also uses.
"""

import sys

from attnbook.bench import main

if __name__ == "__main__":
    sys.exit(main())
