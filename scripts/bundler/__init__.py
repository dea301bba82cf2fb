"""Builds the lab's offline bundle: Kubernetes, its images and the container runtime (scripts/bundle.py)."""
