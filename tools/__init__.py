"""Command-line tools of the hardened DOKS stack (render, credentials, operations)."""
