"""The dev split and the cross-fitting folds of the train side: stable, balanced, pairs together."""

from __future__ import annotations

from collections import Counter

import pytest

from gavel.training.splits import Row, fold_of, is_dev, parse_fold


def _rows(n: int) -> list[Row]:
    return [Row("olid", str(i), f"post {i}", "NOT") for i in range(n)]


def test_folds_are_stable_and_balanced() -> None:
    rows = _rows(4000)
    first = [fold_of(r, 2) for r in rows]
    assert first == [fold_of(r, 2) for r in rows]  # a row never changes fold between runs
    counts = Counter(first)
    assert set(counts) == {0, 1} and abs(counts[0] - counts[1]) < 200
    assert set(Counter(fold_of(r, 5) for r in rows)) == {0, 1, 2, 3, 4}


def test_a_dynahate_pair_shares_its_fold_and_its_side() -> None:
    for i in range(200):
        a = Row("dynahate", f"a{i}", "orig", "hate", {"matched_id": f"b{i}"})
        b = Row("dynahate", f"b{i}", "perturbed", "nothate", {"matched_id": f"a{i}"})
        assert fold_of(a, 2) == fold_of(b, 2) and is_dev(a) == is_dev(b)


def test_folds_do_not_follow_the_dev_split() -> None:
    # a different seed: dev rows are not all in one fold, so a fold is not a proxy for dev
    dev = [r for r in _rows(4000) if is_dev(r)]
    assert len({fold_of(r, 2) for r in dev}) == 2


def test_a_fold_is_written_k_slash_n() -> None:
    assert parse_fold("0/2") == (0, 2) and parse_fold("4/5") == (4, 5)
    for bad in ("2/2", "x/2", "1", "-1/3", "1/0"):
        with pytest.raises(ValueError, match="K/N"):
            parse_fold(bad)
