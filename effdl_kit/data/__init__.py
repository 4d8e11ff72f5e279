"""Dataset builders and loaders: the EfficientDL system-component data (authors' and the kit's own)."""
