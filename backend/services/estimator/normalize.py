"""Text normalisation: one canonical, lower-case spelling of numbers, units and trade words.

Everything downstream (the catalogue's patterns, the quantity reader) works on this text, so
the patterns only ever see ``12 sqft``, ``110 lf``, ``8 cuyd``, ``12x14``, ``x2`` and digits.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Descriptions longer than this are cut: the API caps input separately, this keeps the
# estimator fast on pathological input (a pasted 10 kB e-mail still fits).
MAX_CHARS = 12_000

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}

# Common misspellings seen in typed and transcribed descriptions.
_TYPOS = {
    "aprox": "approx", "approx.": "approx", "approximately": "approx", "apx": "approx",
    "supplys": "supplies", "runnin": "running", "leakin": "leaking", "drippin": "dripping",
    "faucit": "faucet", "facet": "faucet", "facuet": "faucet", "fawcet": "faucet",
    "toliet": "toilet", "toilit": "toilet", "toilette": "toilet", "recesed": "recessed",
    "thermastat": "thermostat", "thermostate": "thermostat", "cabnet": "cabinet",
    "cabnets": "cabinets", "cabinates": "cabinets", "drywal": "drywall", "sheetrock": "drywall",
    "sheet rock": "drywall", "gyprock": "drywall", "disposel": "disposal", "dispoal": "disposal",
    "replce": "replace", "repalce": "replace", "instal": "install", "ceilling": "ceiling",
    "cieling": "ceiling", "celing": "ceiling", "bathrm": "bathroom", "rm": "room",
    "bdrm": "bedroom", "bedrm": "bedroom", "lites": "lights", "lite": "light", "gfi": "gfci",
    "gfcis": "gfci", "a/c": "ac", "airconditioner": "air conditioner", "furnance": "furnace",
    "heatpump": "heat pump", "minisplit": "mini split", "mini-split": "mini split",
    "mini-splits": "mini splits", "lineset": "line set", "baseboards": "baseboard",
    "base board": "baseboard", "base boards": "baseboard", "recaulk": "re-caulk",
    "underlay": "underlayment", "laminent": "laminate", "linoleum": "vinyl",
    "hardwoods": "hardwood", "showerhead": "shower head", "backsplash": "backsplash",
    "back splash": "backsplash", "tv's": "tvs", "t.v.": "tv", "powerwash": "power wash",
    "pressurewash": "pressure wash", "shrubbery": "shrubs", "aireate": "aerate",
    "areate": "aerate", "aereate": "aerate", "mulsh": "mulch", "gutter's": "gutters",
    "shingels": "shingles", "shingle's": "shingles", "flashin": "flashing", "dimer": "dimmer",
    "outlits": "outlets", "outlit": "outlet", "recepticle": "receptacle",
    "recepticles": "receptacles", "panle": "panel", "breaker's": "breakers",
    "wax seal": "wax ring", "tankless": "tankless", "hotwater": "hot water",
    "waterheater": "water heater", "ignitor": "igniter", "ignition": "igniter",
    "vynil": "vinyl", "vinal": "vinyl", "carpett": "carpet", "tilee": "tile",
}
_TYPO_RE = re.compile(
    r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(_TYPOS, key=len, reverse=True)) + r")(?![\w/])"
)

_UNIT_RULES: tuple[tuple[str, str], ...] = (
    # thousands separators and "12k btu"
    (r"(?<=\d),(?=\d{3}(?!\d))", ""),
    (r"(\d+(?:\.\d+)?)\s*k\s*(?=btu)", r"\g<1>000 "),
    # fractions: "2 1/2" -> 2.5, "and a half"
    (r"(\d+)\s+1/2\b", r"\1.5"),
    (r"(\d+)\s+and\s+a\s+half\b", r"\1.5"),
    # areas before lengths
    (r"(\d)\s*(?:sq\.?\s*(?:ft|feet|foot)(?:\.(?=\s+(?:of|in|on|at|with|for|and)\b))?|sqft"
     r"|sq\.?\s*f\b|square\s*(?:ft|feet|foot)"
     r"|sf\b|ft\s*2\b|ft\^2|feet\s*2\b)", r"\1 sqft"),
    (r"(\d)\s*(?:sq\.?\s*m(?:eters?|etres?)?\b|square\s*met(?:er|re)s?|m\s?2\b|sqm\b|m\^2)",
     r"\1 sqm"),
    (r"(\d)\s*(?:cu\.?\s*y(?:ar)?ds?\.?|cubic\s*y(?:ar)?ds?|c\.y\.|yards?\b|yds?\b)", r"\1 cuyd"),
    (r"(\d)\s*(?:cu\.?\s*m\b|cubic\s*met(?:er|re)s?|m\s?3\b)", r"\1 cum"),
    # dimensions: 12x14, 12' x 14', 12 by 14, 12 ft x 14 ft
    (r"(?<![\w./])(\d+(?:\.\d+)?)\s*(?:'|ft|feet|foot)?\s*(?:x|by|\*)\s*(\d+(?:\.\d+)?)"
     r"(?:\s*(?:'|ft\b|feet\b|foot\b))?", r"\1x\2"),
    (r"(\d)\s*(?:linear\s*(?:ft|feet|foot)|lin\.?\s*(?:ft|feet)|l\.f\.|lf\b|ft\b(?:\.(?=\s+(?:of|in|on|at|with|for|and)\b))?"
     r"|feet\b|foot\b"
     r"|'(?![a-z]))", r"\1 lf"),
    (r"(\d)\s*(?:linear\s*met(?:er|re)s?|lin\.?\s*m\b|m\b|met(?:er|re)s?\b)", r"\1 lm"),
    (r"(\d)\s*(?:\"|inch(?:es)?\b|in\b(?=\s*(?:wide|vanity|tv|television|screen|door|pipe|line)))",
     r"\1 inch "),
    (r"(\d)in\b", r"\1 inch"),
    (r"(\d)\s*gal(?:lon)?s?\b", r"\1 gal"),
    (r"(\d)\s*(?:amps?\b|amperes?\b|a\b(?=\s*(?:service|panel|breaker|circuit|to\b)))", r"\1 amp"),
    (r"(\d)a\b", r"\1 amp"),
    (r"(\d)\s*tons?\b", r"\1 ton"),
    (r"(\d)\s*(?:hrs?|hours?)\b", r"\1 hours"),
    (r"(\d)\s*(?:br|bd|bdr|bdrm|beds?|bedrooms?)\b", r"\1 bedroom"),
    (r"(\d(?:\.5)?)\s*(?:ba|bth|baths?|bathrooms?)\b", r"\1 bathroom"),
    (r"(\d)\s*(?:stories|story|storey|storeys)\b", r"\1 story"),
    # multipliers: "lines x2", "lines x 2", "(x2)", "(2) toilets"
    (r"(?<=[a-z)])(?:\s+|\s*\()x\s*(\d+)\)?(?![\w.])", r" x\1"),
    (r"\((\d+)\)", r"\1"),
)
_COMPILED_UNIT_RULES = tuple((re.compile(p), r) for p, r in _UNIT_RULES)

_WORD_RULES: tuple[tuple[str, str], ...] = (
    (r"\bw/o\b", " without "),
    (r"\bw/\s*", " with "),
    (r"\s*&\s*", " and "),
    (r"\s+\+\s*", " and "),
    (r"\bhalf\s+a\s+dozen\b", "6"),
    (r"\ba\s+dozen\b|\bdozen\b", "12"),
    (r"\b(?:a\s+)?couple(?:\s+of)?\b", "2"),
    (r"\b(?:a\s+)?pair\s+of\b", "2"),
    (r"\ba\s+few\b", "3"),
    (r"\bone\s+and\s+a\s+half\b", "1.5"),
    (r"\ba\s+hundred\b", "100"),
    (r"\bboth\s+sides\b", "2 sides"),
)
_COMPILED_WORD_RULES = tuple((re.compile(p), r) for p, r in _WORD_RULES)

_TENS_ONES_RE = re.compile(
    r"\b(" + "|".join(_TENS) + r")[\s-]+(" + "|".join(k for k in _ONES if _ONES[k] < 10) + r")\b"
)
_WORD_NUMBER_RE = re.compile(r"\b(" + "|".join(list(_ONES) + list(_TENS)) + r")\b")
_HUNDRED_RE = re.compile(r"\b(\d+)\s+hundred\b")
_SPACE_RE = re.compile(r"[ \t]+")
_PUNCT_TRANSLATION = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u00d7": "x", "\u2044": "/", "\u2032": "'", "\u2033": '"', "\u00a0": " ", "\t": " ", "\r": "\n",
})


def _word_number(match: re.Match[str]) -> str:
    word = match.group(1)
    return str(_ONES.get(word, _TENS.get(word, 0)))


def _tens_ones(match: re.Match[str]) -> str:
    return str(_TENS[match.group(1)] + _ONES[match.group(2)])


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """Return the canonical lower-case form of a job description (never raises)."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).translate(_PUNCT_TRANSLATION)
    # Keep letters, digits, whitespace and the punctuation the patterns rely on.
    text = "".join(
        ch if (ch.isascii() and (ch.isprintable() or ch == "\n")) else " " for ch in text
    ).lower()
    for pattern, repl in _COMPILED_WORD_RULES:
        text = pattern.sub(repl, text)
    text = _TENS_ONES_RE.sub(_tens_ones, text)
    text = _WORD_NUMBER_RE.sub(_word_number, text)
    text = _HUNDRED_RE.sub(lambda m: str(int(m.group(1)) * 100), text)
    text = _TYPO_RE.sub(lambda m: _TYPOS[m.group(1)], text)
    for pattern, repl in _COMPILED_UNIT_RULES:
        text = pattern.sub(repl, text)
    text = "\n".join(_SPACE_RE.sub(" ", line).strip() for line in text.split("\n"))
    return text.strip()
