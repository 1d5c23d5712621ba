from __future__ import annotations

from dlrhub.cli import main

main()
