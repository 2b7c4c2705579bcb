"""Placeholder package for the serve stage; see ARCHITECTURE.md (built by a later issue)."""
