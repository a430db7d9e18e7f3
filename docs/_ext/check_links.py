"""Check every internal link of the built HTML: the page exists and so does its anchor.

Usage: ``python docs/_ext/check_links.py docs/_build/html``.  External links
(http, https, mailto) are listed but not fetched: CI reaches no site but PyPI.
Exit status 1 if any internal link is broken.
"""

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and (tag, key) in {("a", "href"), ("img", "src")}:
                self.links.append(attrs[key])


def main(root):
    root = Path(root).resolve()
    pages = {}
    for path in root.rglob("*.html"):
        p = _Page()
        p.feed(path.read_text(encoding="utf-8"))
        pages[path] = p
    broken, external = [], set()
    for path, page in pages.items():
        if path.parts[len(root.parts)] in {"_modules", "_static", "_sources"}:
            continue
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                external.add(link)
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(root)}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(root)}: {link} (no such anchor)")
    print(
        f"check_links: {len(pages)} pages, {sum(len(p.links) for p in pages.values())} links; "
        f"{len(broken)} broken internal; {len(external)} external, not checked"
    )
    for line in broken:
        print("  " + line)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html"))
