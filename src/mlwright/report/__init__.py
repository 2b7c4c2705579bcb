"""Placeholder package for the report stage; see ARCHITECTURE.md (built by a later issue)."""
