"""PyTorch models over the feature vectors (FEATURES.md): their outputs, their kinds, their
checkpoints and their training. Model kinds are registered by name in `cobflow.models.registry`."""
