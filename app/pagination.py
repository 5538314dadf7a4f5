from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    # False when counting stopped at a cap (counting 100,000 rows on every page view costs
    # more than the page itself): `total` is then a lower bound.
    total_exact: bool = True
    more: bool = False

    @property
    def pages(self) -> int:
        if not self.total_exact:
            return self.page + (1 if self.more else 0)
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        if not self.total_exact:
            return self.more
        return self.page < self.pages
