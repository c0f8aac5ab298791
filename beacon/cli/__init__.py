"""The ``beacon`` command line."""
