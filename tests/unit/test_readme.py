"""The README's generated configuration reference matches the schema."""

from tools.config_doc import BEGIN, END, render_reference
from tools.offline import PROJECT_DIR


def test_config_reference_is_up_to_date() -> None:
    text = (PROJECT_DIR / "README.md").read_text()
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == render_reference(), "run `make config-doc` and commit README.md"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    assert "```sh\nmake test\n```" in readme
    assert "exec make test" in (PROJECT_DIR / ".ci" / "run").read_text()
