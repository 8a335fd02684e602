"""figures layer."""
