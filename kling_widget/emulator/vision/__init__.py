"""The emulator's vision: segmentation, tracking and rendering, NumPy only, deterministic."""
