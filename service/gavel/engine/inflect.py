"""Regular English inflections of a lexicon term, generated at compile time.

Matching stays a single automaton pass at run time; over-generated forms ("killion") cost
nothing because they never occur. Irregular forms go in a term's `variants`.
"""

from __future__ import annotations

_VOWELS = set("aeiou")


def _double_final(word: str) -> bool:
    """stab -> stabbed: short consonant-vowel-consonant endings double their last letter."""
    return (
        len(word) >= 3
        and word[-1] not in _VOWELS
        and word[-1] not in "wxy"
        and word[-2] in _VOWELS
        and word[-3] not in _VOWELS
    )


def inflections(word: str, *, doers: bool = True) -> set[str]:
    """The word and its -s/-es/-ed/-ing/-er/-ion/-ation forms.

    A multi-word term inflects its first word (phrasal verbs: "wiped out") and its last
    (noun phrases: "final solutions"). `doers=False` leaves out the nouns for the one who does
    it (-er/-ers/-or/-ors): "killers" names people, not a call to kill, and some doer nouns are
    everyday things ("eraser", "hanger", "burner", "exterminator").
    """
    if " " in word:
        first, _, rest = word.partition(" ")
        head, _, last = word.rpartition(" ")
        return {f"{f} {rest}" for f in inflections(first, doers=doers)} | {
            f"{head} {f}" for f in inflections(last, doers=doers)
        }
    forms, doer_forms = _forms(word)
    return forms | doer_forms if doers else forms


def _forms(word: str) -> tuple[set[str], set[str]]:
    """(the word, its verb and -ion forms), (its doer nouns)."""
    if not word.isalpha() or len(word) < 3:
        return {word}, set()
    forms = {word}
    doer: set[str] = set()
    if word.endswith("ie"):
        # die -> dying, tie -> tying ("diing" would squeeze onto the ordinary word "ding")
        forms |= {word + "s", word + "d", word[:-2] + "ying"}
    elif word.endswith("e"):
        stem = word[:-1]
        forms |= {word + "s", word + "d", stem + "ing", stem + "ion", stem + "ions"}
        doer |= {word + "r", word + "rs"}
        if word.endswith("ate"):
            doer |= {stem + "or", stem + "ors"}
        else:
            forms |= {stem + "ation", stem + "ations"}
    elif word.endswith("y") and len(word) > 3 and word[-2] not in _VOWELS:
        stem = word[:-1]
        forms |= {stem + "ies", stem + "ied", word + "ing"}
        doer |= {stem + "ier", stem + "iers"}
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        forms |= {word + "es", word + "ed", word + "ing"}
        doer |= {word + "er", word + "ers"}
        if word.endswith(("s", "z")) and _double_final(word):
            # gas -> gassed, gassing: without the double letter only the squeezed view matched
            last = word[-1]
            forms |= {word + last + "ed", word + last + "ing", word + last + "es"}
    else:
        forms |= {word + "s", word + "ed", word + "ing", word + "ation"}
        doer |= {word + "er", word + "ers"}
        if _double_final(word):
            last = word[-1]
            forms |= {word + last + "ed", word + last + "ing"}
            doer |= {word + last + "er", word + last + "ers"}
    return forms, doer
