"""The application repository's template signs and pushes exactly what the stacks admit.

Each stack's `admission` settings say which registry pods may pull from and whose keyless signature
they must carry (OIDC issuer + certificate subject). The template
templates/app-repo/.github/workflows/build-sign-push.yml says where it pushes and, through the GitHub
OIDC identity of its signing job, who signs. These tests derive both sides and compare them, so a
change to a stack file or to the template alone fails here. The subject is matched the way Kyverno
matches it (``subject``: wildcards; ``subjectRegExp``: an unanchored Go regular expression search).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hardened_doks.admission import signature_policy
from hardened_doks.config import Admission, StackConfig, parse_stack_config
from hardened_doks.tools.offline import PROJECT_DIR, read_stack_file, stack_names

TEMPLATE = PROJECT_DIR / "templates" / "app-repo" / ".github" / "workflows" / "build-sign-push.yml"
TOOLCHAIN = PROJECT_DIR / "scripts" / "toolchain.sh"
#: The issuer of every GitHub Actions OIDC token.
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
SIGNING_JOB = "sign-and-push"


@dataclass(frozen=True)
class SigningTemplate:
    """What the template pushes to and signs as."""

    registry: str
    issuer: str
    workflow_path: str  # .github/workflows/<file>, the workflow part of the certificate subject
    signing_refs: tuple[str, ...]  # the refs the signing job runs on
    cosign_version: str


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))
    return document


def signing_template(path: Path = TEMPLATE) -> SigningTemplate:
    document = _load(path)
    job = document["jobs"][SIGNING_JOB]
    refs = tuple(re.findall(r"github\.ref == '([^']+)'", job["if"]))
    assert refs and "github.event_name == 'push'" in job["if"], f"{SIGNING_JOB} must run only on a push to named refs: {job['if']}"
    return SigningTemplate(
        registry=document["env"]["REGISTRY"],
        issuer=document["env"]["OIDC_ISSUER"],
        workflow_path=f".github/workflows/{path.name}",
        signing_refs=refs,
        cosign_version=document["env"]["COSIGN_VERSION"],
    )


def fulcio_subject(repository: str, template: SigningTemplate, ref: str) -> str:
    """The certificate subject Fulcio issues to a GitHub Actions job: its job_workflow_ref as a URL."""
    return f"https://github.com/{repository}/{template.workflow_path}@{ref}"


def kyverno_matches(admission: Admission, subject: str) -> bool:
    keyless = admission.keyless
    assert keyless is not None
    if keyless.subject is not None:
        return fnmatch.fnmatchcase(subject, keyless.subject)
    return re.search(keyless.subject_regexp or "", subject) is not None


def trusted_repository(admission: Admission) -> str | None:
    """The owner/repo the stack's subject names (the first, when a regexp lists alternatives), if any."""
    keyless = admission.keyless
    assert keyless is not None
    text = keyless.subject if keyless.subject is not None else (keyless.subject_regexp or "").replace("\\", "")
    found = re.search(r"https://github\.com/\(?([\w-]+)/\(?([\w-][\w.-]*)/", text)
    return f"{found.group(1)}/{found.group(2)}" if found else None


def identity_problems(admission: Admission, template: SigningTemplate) -> list[str]:
    """Every way the stack's admission settings and the template disagree (empty: they agree)."""
    problems = []
    if not any(template.registry == r or template.registry.startswith(r + "/") for r in admission.allowed_registries):
        problems.append(f"the template pushes to {template.registry}, not under admission.allowed_registries {admission.allowed_registries}")
    if admission.cosign_public_key is not None:
        problems.append("the stack verifies a cosign key, the template signs keyless")
    if admission.keyless is None:
        return problems
    if admission.keyless.issuer != template.issuer:
        problems.append(f"admission.keyless.issuer is {admission.keyless.issuer}, the template signs as {template.issuer}")
    repository = trusted_repository(admission)
    if repository is None:
        return problems + [f"admission.keyless subject {admission.keyless.subject or admission.keyless.subject_regexp!r} names no single repository"]
    owner, name = repository.split("/", 1)
    for ref in template.signing_refs:
        if not kyverno_matches(admission, fulcio_subject(repository, template, ref)):
            problems.append(f"the template's subject {fulcio_subject(repository, template, ref)} is not admitted")
    # Identities the stack must NOT trust: the same workflow on a pull request or another branch, another
    # workflow file of the repository, and other repositories of (or beyond) the organisation.
    impostors = [fulcio_subject(repository, template, ref) for ref in ("refs/pull/1/merge", "refs/heads/feature", "refs/tags/v1.0.0")]
    impostors += [
        f"https://github.com/{repository}/.github/workflows/other.yml@{template.signing_refs[0]}",
        f"https://github.com/{owner}/{name}-fork/{template.workflow_path}@{template.signing_refs[0]}",
        f"https://github.com/{owner}/other/{template.workflow_path}@{template.signing_refs[0]}",
        f"https://github.com/{owner}-evil/{name}/{template.workflow_path}@{template.signing_refs[0]}",
        f"https://github.com/evil/x/.github/workflows/y.yml@refs/heads/main#https://github.com/{repository}/{template.workflow_path}@{template.signing_refs[0]}",
    ]
    problems += [f"the stack also admits {subject}" for subject in impostors if kyverno_matches(admission, subject)]
    return problems


def stack_config(stack: str) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    return parse_stack_config(raw, stack=stack, secret_keys=secrets)


@pytest.mark.parametrize("stack", stack_names())
def test_the_template_pushes_and_signs_what_the_stack_admits(stack: str) -> None:
    assert identity_problems(stack_config(stack).admission, signing_template()) == []


def test_staging_and_prod_require_the_templates_keyless_identity() -> None:
    template = signing_template()
    assert template.issuer == GITHUB_OIDC_ISSUER and template.signing_refs == ("refs/heads/main",)
    for stack in ("staging", "prod"):
        admission = stack_config(stack).admission
        assert admission.keyless is not None and admission.cosign_public_key is None, stack
        # What the stack renders is what was checked above: issuer and subject in the rule (the keyless form
        # is verified only against real Sigstore; tests/e2e/test_supply_chain.py runs the key form offline).
        policy = signature_policy(admission)
        assert policy is not None
        (entry,) = policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"]
        assert entry["keyless"]["issuer"] == admission.keyless.issuer
        assert entry["keyless"].get("subjectRegExp") == admission.keyless.subject_regexp
        assert entry["keyless"].get("subject") == admission.keyless.subject


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject_regexp": r"^https://github\.com/example-org/.+$"}}, "names no single repository"),
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject_regexp": r"^https://github\.com/example-org/apps/\.github/workflows/build-sign-push\.yml@refs/.+$"}}, "also admits https://github.com/example-org/apps/.github/workflows/build-sign-push.yml@refs/pull/1/merge"),
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject_regexp": r"https://github\.com/example-org/apps/\.github/workflows/build-sign-push\.yml@refs/heads/main"}}, "also admits https://github.com/evil/x"),
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject_regexp": r"^https://github\.com/example-org/apps/.+@refs/heads/main$"}}, "also admits https://github.com/example-org/apps/.github/workflows/other.yml"),
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject_regexp": r"^https://github\.com/example-org/apps/\.github/workflows/release\.yml@refs/heads/main$"}}, "is not admitted"),
        ({"keyless": {"issuer": GITHUB_OIDC_ISSUER, "subject": "https://github.com/example-org/apps/.github/workflows/build-sign-push.yml@refs/heads/*"}}, "also admits https://github.com/example-org/apps/.github/workflows/build-sign-push.yml@refs/heads/feature"),
        ({"keyless": {"issuer": "https://gitlab.com", "subject": "https://github.com/example-org/apps/.github/workflows/build-sign-push.yml@refs/heads/main"}}, "admission.keyless.issuer is https://gitlab.com"),
        ({"allowed_registries": ["registry.digitalocean.com/hardened-doks-prod"]}, "not under admission.allowed_registries"),
    ],
)
def test_a_change_on_one_side_only_is_caught(change: dict, problem: str) -> None:
    admission = stack_config("prod").admission.model_copy(update={k: v for k, v in change.items() if k != "keyless"})
    if "keyless" in change:
        admission = admission.model_copy(update={"keyless": type(admission.keyless).model_validate(change["keyless"])})
    problems = identity_problems(admission, signing_template())
    assert any(problem in p for p in problems), problems


def test_a_renamed_template_or_another_signing_branch_is_caught(tmp_path: Path) -> None:
    renamed = tmp_path / "release.yml"
    renamed.write_text(TEMPLATE.read_text())
    assert any("is not admitted" in p for p in identity_problems(stack_config("prod").admission, signing_template(renamed)))
    other_branch = tmp_path / "build-sign-push.yml"
    other_branch.write_text(TEMPLATE.read_text().replace("github.ref == 'refs/heads/main'", "github.ref == 'refs/heads/develop'"))
    assert any("is not admitted" in p for p in identity_problems(stack_config("prod").admission, signing_template(other_branch)))


def test_the_template_signs_keyless_with_the_cosign_the_tests_use() -> None:
    document = _load(TEMPLATE)
    job = document["jobs"][SIGNING_JOB]
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert 'cosign sign --yes "$REF"' in runs and "--key" not in runs, "keyless: the job's OIDC identity, no key"
    assert "@sha256:" not in runs and "RepoDigests" in runs, "the signature is bound to the pushed digest"
    assert '--certificate-oidc-issuer "$OIDC_ISSUER" --certificate-identity "$IDENTITY"' in runs
    assert job["env"]["IDENTITY"] == "${{ github.server_url }}/${{ github.workflow_ref }}"
    pinned = re.search(r'"cosign\|github\.com/sigstore/cosign/v2\|(v[0-9.]+)\|', TOOLCHAIN.read_text())
    assert pinned and document["env"]["COSIGN_VERSION"] == pinned.group(1), "the template signs with the cosign the e2e tier verifies with"
    installer = next(s for s in job["steps"] if s.get("uses", "").startswith("sigstore/cosign-installer@"))
    assert installer["with"]["cosign-release"] == "${{ env.COSIGN_VERSION }}"


def test_the_build_job_holds_no_credential() -> None:
    # A pull request's Dockerfile runs in build-and-scan: no registry token, no OIDC token, no push.
    job = _load(TEMPLATE)["jobs"]["build-and-scan"]
    text = yaml.safe_dump(job)
    assert "permissions" not in job and "DIGITALOCEAN" not in text and "id-token" not in text
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["push"] is False and build["with"]["load"] is True
    uses = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert uses.index("docker/build-push-action") < uses.index("anchore/sbom-action") < uses.index("aquasecurity/trivy-action")
    trivy = next(s for s in job["steps"] if s.get("uses", "").startswith("aquasecurity/trivy-action@"))
    assert trivy["with"]["exit-code"] == "1" and trivy["with"]["severity"] == "${{ steps.threshold.outputs.trivy }}"
    snyk = next(s for s in job["steps"] if s.get("name", "").startswith("Snyk"))
    assert snyk["env"]["SNYK_TOKEN"] == "${{ secrets.SNYK_TOKEN }}" and '--severity-threshold="$SEVERITY"' in snyk["run"]


# -- the key form: with or without the transparency log --------------------------------------------------

PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample0000000000000000000000000\n-----END PUBLIC KEY-----\n"


def _key_attestor(**admission: object) -> dict:
    raw, secrets = read_stack_file("dev")
    raw = {**raw, "hardened-doks:admission": json.dumps({"cosign_public_key": PUBLIC_KEY, **admission})}
    policy = signature_policy(parse_stack_config(raw, stack="dev", secret_keys=secrets).admission)
    assert policy is not None
    (entry,) = policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"]
    return entry


def test_key_signatures_need_their_rekor_entry_by_default() -> None:
    # No rekor/ctlog block: Kyverno checks the signature's Rekor entry against Sigstore's public keys.
    assert _key_attestor() == {"keys": {"publicKeys": PUBLIC_KEY.strip()}}


def test_key_signatures_without_a_transparency_log_are_verified_against_the_key_alone() -> None:
    assert _key_attestor(cosign_key_transparency_log=False) == {
        "keys": {"publicKeys": PUBLIC_KEY.strip(), "rekor": {"ignoreTlog": True}, "ctlog": {"ignoreSCT": True}}
    }


def test_no_transparency_log_is_refused_for_keyless_signatures() -> None:
    from hardened_doks.config import ConfigError

    raw, secrets = read_stack_file("prod")
    document = {"issuer": GITHUB_OIDC_ISSUER, "subject": "https://github.com/a/b/.github/workflows/c.yml@refs/heads/main"}
    raw = {**raw, "hardened-doks:admission": json.dumps({"keyless": document, "cosign_key_transparency_log": False})}
    with pytest.raises(ConfigError) as error:
        parse_stack_config(raw, stack="prod", secret_keys=secrets)
    assert "hardened-doks:admission" in str(error.value) and "cosign_public_key only" in str(error.value)
