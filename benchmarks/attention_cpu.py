"""CPU attention benchmark: NumPy vs PyTorch vs F.scaled_dot_product_attention.

Usage: python benchmarks/attention_cpu.py [--sizes 256 512 ...] [--d 64] [--repeats 7] [--threads 1]

Prints median time and peak memory (growth of peak RSS, one fresh process per measurement) for
n_queries = n_keys = n. The measuring code lives in attnbook/bench.py, which chapter 2 also uses.
"""

import sys

from attnbook.bench import main

if __name__ == "__main__":
    sys.exit(main())
