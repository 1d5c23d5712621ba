"""Local stand-ins for carriers' APIs, each run as its own process by the tests (issue 12)."""
