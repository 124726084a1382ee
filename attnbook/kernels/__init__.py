"""Chapter 6: efficient attention (FlashAttention in NumPy, PyTorch and Triton; ring attention;
sliding-window and linear attention).

``import attnbook`` stays cheap: Triton (Linux only) is imported on the first call of
:func:`triton_flash_attention`, and ``torch.distributed`` is used only inside the ring functions.
"""

from .efficient import linear_attention, linear_attention_recurrent, sliding_window_mask
from .flash import flash_attention, flash_attention_forward, flash_attention_numpy
from .ring import merge_attention_partials, ring_attention, run_ring_attention
from .triton_flash import triton_flash_attention

__all__ = [
    "flash_attention",
    "flash_attention_forward",
    "flash_attention_numpy",
    "linear_attention",
    "linear_attention_recurrent",
    "merge_attention_partials",
    "ring_attention",
    "run_ring_attention",
    "sliding_window_mask",
    "triton_flash_attention",
]
