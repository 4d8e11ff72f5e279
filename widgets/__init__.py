"""ipywidgets panels (installed as effdl_kit.widgets)."""
