"""The world model's tokenizer designs by name, without PyTorch: the CLI and the benchmarks name their defaults
from here before the ``learn`` extra is imported (models/tokenizer.py describes each design)."""

#: ``plain`` as the presets were first trained; ``residual`` with six FSQ digits (codebook 64,000) and a decoder
#: twice as wide at the tokens; ``reference``: plain's tokens, each frame decoded from the frame before it.
TOKENIZERS = ("plain", "residual", "reference")

#: What ``train worldmodel`` makes unless told otherwise: in the 60-minute runs of 2026-12-06 (BENCHMARKS.md)
#: ``reference`` scored 1.8 dB above ``plain`` teacher-forced, the first design above repeating the last frame.
DEFAULT_TOKENIZER = "reference"
