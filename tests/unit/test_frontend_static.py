"""SEC-001, statically: the frontend never builds markup from strings and has
nothing inline that the strict CSP (script-src 'self'; style-src 'self') would
block. The browser tests prove the same at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
SOURCE_SUFFIXES = {".js", ".mjs", ".html", ".htm", ".css", ".svg"}

FORBIDDEN_IN_SCRIPTS = {
    "innerHTML": re.compile(r"\binnerHTML\b"),
    "outerHTML": re.compile(r"\bouterHTML\b"),
    "insertAdjacentHTML": re.compile(r"\binsertAdjacentHTML\b"),
    "document.write": re.compile(r"\bdocument\s*\.\s*write(ln)?\b"),
    "createContextualFragment": re.compile(r"\bcreateContextualFragment\b"),
    "DOMParser": re.compile(r"\bDOMParser\b"),
    "eval": re.compile(r"(?<![.\w])eval\s*\("),
    "new Function": re.compile(r"\bnew\s+Function\s*\("),
    "string timer": re.compile(r"\bset(Timeout|Interval)\s*\(\s*['\"`]"),
    "setAttribute('style')": re.compile(r"setAttribute\(\s*['\"`]style['\"`]"),
    "setAttribute('on…')": re.compile(r"setAttribute\(\s*['\"`]on\w+['\"`]"),
    "style.cssText": re.compile(r"\.style\.cssText\b"),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "web storage": re.compile(r"\b(localStorage|sessionStorage)\b"),
}
# Markup (in .html/.svg files, or markup-looking strings inside scripts).
INLINE_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.IGNORECASE)
STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def _sources() -> list[Path]:
    return sorted(p for p in FRONTEND.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES)


def _strip_js_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"(^|\s)//[^\n]*", r"\1", text)


def _problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    suffix = path.suffix.lower()
    if suffix in {".js", ".mjs"}:
        code = _strip_js_comments(text)
        found += [name for name, pattern in FORBIDDEN_IN_SCRIPTS.items() if pattern.search(code)]
    if suffix in {".html", ".htm", ".svg", ".js", ".mjs"}:
        if INLINE_HANDLER.search(text):
            found.append("inline on*= handler")
        if STYLE_ATTRIBUTE.search(text):
            found.append("inline style attribute")
        if STYLE_BLOCK.search(text):
            found.append("<style> block")
        for attrs, body in SCRIPT_TAG.findall(text):
            if "src=" not in attrs or body.strip():
                found.append("inline <script> body")
    return found


def test_frontend_exists_with_sources() -> None:
    assert (FRONTEND / "index.html").is_file()
    assert any(p.suffix == ".js" for p in _sources())


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(FRONTEND)))
def test_frontend_file_has_no_unsafe_dom_or_inline_code(path: Path) -> None:
    assert _problems(path) == [], f"{path.relative_to(FRONTEND)}: {_problems(path)}"


@pytest.mark.parametrize("snippet, problem", [
    ("el.innerHTML = name;", "innerHTML"),
    ("el.insertAdjacentHTML('beforeend', x)", "insertAdjacentHTML"),
    ("el.outerHTML = x", "outerHTML"),
    ("document.write(x)", "document.write"),
    ("el.setAttribute('style', 'color:red')", "setAttribute('style')"),
    ("localStorage.setItem('token', t)", "web storage"),
])
def test_checker_catches_unsafe_script(tmp_path: Path, snippet: str, problem: str) -> None:
    bad = tmp_path / "bad.js"
    bad.write_text(snippet)
    assert problem in _problems(bad)


@pytest.mark.parametrize("markup, problem", [
    ('<button onclick="go()">Go</button>', "inline on*= handler"),
    ('<div style="color:red">x</div>', "inline style attribute"),
    ("<style>body{}</style>", "<style> block"),
    ("<script>alert(1)</script>", "inline <script> body"),
])
def test_checker_catches_inline_markup(tmp_path: Path, markup: str, problem: str) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(markup)
    assert problem in _problems(bad)
