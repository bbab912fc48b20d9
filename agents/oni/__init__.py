"""ONI message reward models and the NetHack feature extractor."""
