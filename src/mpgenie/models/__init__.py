"""Genie-style world-model components (PyTorch, extra ``learn``): a video tokenizer, a latent action model and a
dynamics model, each in one file with its config dataclass (the nanoGPT way: readable, no framework)."""
