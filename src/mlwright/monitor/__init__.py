"""Placeholder package for the monitor stage; see ARCHITECTURE.md (built by a later issue)."""
