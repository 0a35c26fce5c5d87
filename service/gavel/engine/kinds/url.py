"""`url`: links and domains in the post, for scam and phishing policies. A listed domain matches
itself and its subdomains (`bit.ly` matches `https://x.bit.ly/abc`), written as a full URL or
bare (`bit.ly/abc`); `any_link` matches every http(s)/www link whose host is not in
`except_domains`. Matched on the original text; the evidence span is the whole link."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

import re2
from pydantic import Field, field_validator, model_validator

from gavel.engine.kinds.base import CompileContext, CompiledKind, Score, SignalBase, SignalKind, with_description
from gavel.engine.matchers import Hit
from gavel.engine.post import Post
from gavel.engine.results import EvidenceDetails

Domain = Annotated[str, Field(min_length=1, max_length=253)]

# RE2: linear time on hostile input. A link with a scheme or www., or a bare dotted name with a
# path-less or path-ful tail; letters of any script (internationalised domains).
_LABEL = r"[\pL\pN][\pL\pN-]*"
_LINK = re2.compile(
    r"(?i)(?:\b(?:https?://|www\.)[^\s<>\"'`]+)"
    rf"|(?:\b(?:{_LABEL}\.)+\pL{{2,}}\b(?:/[^\s<>\"'`]*)?)"
)
_TRAILING = ".,;:!?)]}'\"»”’"


class UrlSignal(SignalBase):
    kind: Literal["url"] = Field(description="url")
    domains: list[Domain] = Field(
        default_factory=list, description="domains that match, with their subdomains (bit.ly, paypal-login.com)"
    )
    any_link: bool = Field(default=False, description="every http(s)/www link matches, except `except_domains`")
    except_domains: list[Domain] = Field(
        default_factory=list, description="domains (and subdomains) that never match, e.g. your own"
    )
    category: str | None = Field(default=None, description="the category of its hits, e.g. phishing")
    score: Score = Field(default=1.0, description="the score of a hit")

    @field_validator("domains", "except_domains")
    @classmethod
    def _canonical(cls, domains: list[str]) -> list[str]:
        out = []
        for d in domains:
            host = _host(d) or ""
            if not host or "." not in host:
                raise ValueError(f"'{d}' is not a domain (e.g. example.com)")
            out.append(host.removeprefix("*."))
        return out

    @model_validator(mode="after")
    def _something_to_match(self) -> UrlSignal:
        if not self.domains and not self.any_link:
            raise ValueError("a url signal needs `domains` or `any_link: true`")
        return self


def _host(link: str) -> str | None:
    """The lowercase host of a link written with or without a scheme."""
    link = link.strip()
    if "://" not in link:
        link = "http://" + link
    try:
        host = urlsplit(link).hostname
    except ValueError:  # a malformed port or bracket: not a link we can read
        return None
    return host.rstrip(".") if host else None


def _under(host: str, domains: list[str]) -> str | None:
    return next((d for d in domains if host == d or host.endswith("." + d)), None)


class CompiledUrls(CompiledKind):
    def __init__(self, signals: dict[str, UrlSignal]) -> None:
        self.signals = signals

    def hits(self, post: Post) -> dict[str, list[Hit]]:
        text = post.item.text
        if "." not in text:
            return {}  # the usual post: no link can be in it
        links: list[tuple[int, int, str, bool]] = []  # start, end, host, written as a link (scheme/www)
        for m in _LINK.finditer(text):
            start, end = m.span()
            while end > start and text[end - 1] in _TRAILING:
                end -= 1
            host = _host(text[start:end])
            if host:
                explicit = text[start:end].lower().startswith(("http://", "https://", "www."))
                links.append((start, end, host, explicit))
        out: dict[str, list[Hit]] = {}
        for sid, sig in self.signals.items():
            for start, end, host, explicit in links:
                if _under(host, sig.except_domains):
                    continue
                listed = _under(host, sig.domains)
                if listed is None and not (sig.any_link and explicit):
                    continue
                out.setdefault(sid, []).append(Hit(sid, start, end, sig.score, listed or host, sig.category))
        return out


def compile_urls(signals: Mapping[str, UrlSignal], ctx: CompileContext) -> CompiledKind:
    return CompiledUrls(dict(signals))


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    sentence = f"links to '{details.matched}', matched by '{signal}'" + (f" ({category})" if category else "")
    return with_description(sentence, details)


KIND = SignalKind("url", UrlSignal, compile_urls, explain, spans=True)
