"""Data governance on the canonical model: field attributes, their lint, masking, the catalog."""
