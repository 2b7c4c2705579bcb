"""Placeholder package for the recommend stage; see ARCHITECTURE.md (built by a later issue)."""
