"""spackmon-analysis: Jupyter-friendly analytics over Spack Monitor data."""

__version__ = "0.1.0"
