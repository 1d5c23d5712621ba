"""The one HTTP client to customers' endpoints (DESIGN.md: imports domain only)."""
