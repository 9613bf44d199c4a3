"""The README and docs/: the generated parts match their sources, the quick start's test command is
CI's, and every link of the documentation map and between pages resolves."""

import re
from collections import Counter
from pathlib import Path

from tools import config_doc
from tools.offline import PROJECT_DIR

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
