from __future__ import annotations

from app.db import Base

__all__ = ["Base"]
