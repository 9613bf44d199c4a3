"""The README and docs/: the generated parts match their sources, the quick start's test command is
CI's, and every link of the documentation map and between pages resolves."""

import re
from collections import Counter
from pathlib import Path

from hardened_doks.tools import config_doc
from hardened_doks.tools.offline import PROJECT_DIR

README = PROJECT_DIR / "README.md"
DOCS = sorted((PROJECT_DIR / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page (lowercase, punctuation dropped, spaces as
    hyphens, a repeated heading numbered)."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"^#+ (.*)$", line)
        if heading and not fenced:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return found


def test_config_reference_is_up_to_date() -> None:
    text = config_doc.DOC.read_text()
    current = text[text.index(config_doc.BEGIN) : text.index(config_doc.END) + len(config_doc.END)]
    assert current == config_doc.render_reference(), "run `make config-doc` and commit docs/configuration.md"


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    assert "```sh\nmake test\n```" in readme
    assert "exec make test" in (PROJECT_DIR / ".ci" / "run").read_text()
    # The quick start's other command: the main job.
    quick_start = readme[readme.index("## Quick start") : readme.index("## Set up")]
    assert re.search(r"```sh\n[^`]*\bmake up\b[^`]*```", quick_start)


def test_every_page_is_on_the_map_and_every_link_resolves() -> None:
    readme = README.read_text()
    mapped = {target for target in LINK.findall(readme) if target.startswith("docs/")}
    assert {f"docs/{page.name}" for page in DOCS} <= {target.split("#")[0] for target in mapped}
    for page in [README, *DOCS]:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # an external address
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.relative_to(PROJECT_DIR)}: link to a missing {target}"
            if anchor:
                assert anchor in anchors(resolved), f"{page.relative_to(PROJECT_DIR)}: no heading for {target}"


#: A reference from code or scripts to a documentation page's section: ``docs/x.md, "Heading"``,
#: ``README "Heading"``, ``README.md, 'Heading'`` (a heading's start is enough).
SECTION_REFERENCE = re.compile(r"""((?:docs/[\w-]+|scripts/toolchain/README|README)(?:\.md)?),?\s+["'“](\w[^"'”\n]*)["'”]""")


def _headings(page: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#+ (.*)$", page.read_text(), re.M)]


def test_every_section_named_in_code_exists() -> None:
    """Comments and messages that send a reader to a section of the README or docs/ (which moved
    from one README into docs/ pages) name a section that is there."""
    sources = [p for d in ("components", "tools", "scripts", "tests", "policy") for p in sorted((PROJECT_DIR / d).rglob("*")) if p.suffix in (".py", ".sh")]
    sources += [PROJECT_DIR / "Makefile"]
    checked = 0
    for source in (s for s in sources if s != Path(__file__).resolve()):
        joined = re.sub(r"\n[ \t]*(?:#:?)?[ \t]*", " ", source.read_text())  # a reference may wrap in a comment
        for page, section in SECTION_REFERENCE.findall(joined):
            target = PROJECT_DIR / (page if page.endswith(".md") else f"{page}.md")
            assert target.is_file(), f"{source.relative_to(PROJECT_DIR)}: no page {page}"
            section = section.rstrip(".,:;")
            assert any(h.startswith(section) for h in _headings(target)), f"{source.relative_to(PROJECT_DIR)}: no section {section!r} in {page}"
            checked += 1
    assert checked >= 10, "the references are found"
