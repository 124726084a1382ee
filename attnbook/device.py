"""Pick the device a notebook runs on: CUDA when PyTorch sees a GPU, else the CPU."""

import torch


def pick_device() -> torch.device:
    """``cuda`` when ``torch.cuda.is_available()``, otherwise ``cpu``. Nothing to configure."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
