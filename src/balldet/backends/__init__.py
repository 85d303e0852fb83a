"""Model backends. Each module registers a ModelWrapper and a DatasetConverter in balldet.backends.registry
and imports its framework lazily, inside methods, so choosing a backend is the only way to load it."""
