"""The input conventions an imported model can declare (command-line choices; no heavy imports)."""

PIXEL_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
"""--pixel-range choices: the real values the model expects for pixel 0 and pixel 255."""

COLOR_ORDERS = ("rgb", "bgr")
"""--color-order choices: the channel order the model was trained on."""
