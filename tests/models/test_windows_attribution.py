"""Long posts in overlapping windows, and word-level evidence by occlusion."""

from __future__ import annotations

import asyncio
import itertools

from gavel.models.hub import DefaultModelHub
from gavel.models.windows import windows

FILLER = " ".join(
    f"Sentence {i} talks about the weather, the garden, a recipe for soup and the train timetable." for i in range(230)
)
INSULT = " Honestly you are a fucking moron and a piece of shit. "
LONG = FILLER[:12_000] + INSULT + FILLER[:8_000]


def test_windows_cover_the_text_with_overlap() -> None:
    assert len(LONG) > 20_000
    spans = windows(LONG, 400, 100)
    assert spans[0][0] == 0 and spans[-1][1] == len(LONG)
    assert all(b[0] < a[1] for a, b in itertools.pairwise(spans))  # they overlap
    assert all(0 < e - s <= 400 for s, e in spans)
    assert windows("short", 400, 100) == [(0, 5)]


def test_a_20000_char_post_finds_the_toxic_window(hub: DefaultModelHub) -> None:
    async def run() -> tuple[float, tuple[int, int]]:
        scored = (await hub.classify("profanity", [LONG]))[0]
        return scored.scores["profanity"], scored.windows["profanity"]

    score, (start, end) = asyncio.run(run())
    whole = hub._classifiers["profanity"].backend.score_batch([LONG])[0]["profanity"]
    assert score > 0.5 > whole  # the whole post dilutes the insult; its window does not
    assert "moron" in LONG[start:end]


def test_a_short_post_is_its_own_window(hub: DefaultModelHub) -> None:
    scored = asyncio.run(hub.classify("profanity", ["you absolute idiot"]))[0]
    assert scored.windows == {"profanity": (0, len("you absolute idiot"))}


def test_occlusion_points_at_the_words(hub: DefaultModelHub) -> None:
    text = "Thanks for the update, you absolute fucking idiot."
    found = asyncio.run(hub.attribute("profanity", text, "profanity"))
    words = [text[a.start : a.end] for a in found]
    assert words[0] in {"fucking", "idiot"}
    assert set(words[:2]) <= {"fucking", "idiot", "absolute"}
    assert "Thanks" not in words and "update" not in words
    assert all(a.contribution > 0 and a.log_odds_drop > 0 for a in found)
    assert [a.contribution for a in found] == sorted((a.contribution for a in found), reverse=True)
    # the contribution is the drop of the score when the word is blanked
    base = hub._classifiers["profanity"].backend.score_batch([text])[0]["profanity"]
    a = found[0]
    without = text[: a.start] + " " * (a.end - a.start) + text[a.end :]
    after = hub._classifiers["profanity"].backend.score_batch([without])[0]["profanity"]
    assert abs((base - after) - a.contribution) < 1e-9


def test_occlusion_is_one_forward_pass(hub: DefaultModelHub) -> None:
    batcher = hub._classifiers["profanity"].batcher
    before = batcher.batches
    found = asyncio.run(hub.attribute("profanity", " ".join(["word"] * 60) + " shit", "profanity"))
    assert batcher.batches - before == 1  # 62 texts (the post and 61 variants) in one pass
    assert found and found[0].start == 300


def test_occlusion_on_a_long_post_uses_the_top_window_and_original_offsets(hub: DefaultModelHub) -> None:
    found = asyncio.run(hub.attribute("profanity", LONG, "profanity"))
    top = {LONG[a.start : a.end] for a in found[:3]}
    assert top & {"fucking", "moron", "shit"}
    assert all(12_000 <= a.start < 12_000 + len(INSULT) for a in found[:3])


def test_occlusion_of_text_without_words(hub: DefaultModelHub) -> None:
    assert asyncio.run(hub.attribute("profanity", "   ", "profanity")) == []
