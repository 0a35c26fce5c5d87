"""Long posts: overlapping windows cut at whitespace, each scored, the maximum kept per label."""

from __future__ import annotations


def windows(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Spans [start, end) of at most `size` characters covering `text`, overlapping by ~`overlap`."""
    n = len(text)
    if n <= size:
        return [(0, n)]
    step = max(size - overlap, 1)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = text.rfind(" ", start + step // 2, end)  # don't split a word when we can help it
            end = cut if cut > start else end
        spans.append((start, end))
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        space = text.find(" ", nxt, end)
        start = space + 1 if space != -1 else nxt
    return spans
