"""``civicbus schemas check``: may the canonical schemas in a folder be published?

1. Every .avsc parses as Avro and passes the governance lint (docs and attributes on every field).
2. Every schema is compatible with what consumers already hold:
   - with a reachable registry: each subject whose latest version is a canonical record, or the
     change-event envelope of one, is checked through the registry's compatibility API, i.e.
     under that subject's configured mode (transitive modes against every version);
   - without one (``--no-registry``): each record is checked against its version at a git
     revision under ``mode`` (default BACKWARD). The default revision is the merge base of HEAD
     and the default branch, so a breaking change already committed on a branch is still caught.
Each problem names the file or subject, the record, the field and the rule it breaks. A registry
that does not answer, or a revision that does not exist, is an error (:class:`CheckError`),
never a silent fallback.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import avro.schema
import requests

from civicbus.schemas import model
from civicbus.schemas.compat import check as compat_check
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError

from .lint import lint


class CheckError(Exception):
    """The check could not be made (registry unreachable, unknown revision); the message says why."""


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.avsc"))}


def lint_folder(folder: Path) -> tuple[model.Catalog, list[Finding]]:
    findings: list[Finding] = []
    texts = _files(folder)
    if not texts:
        return {}, [Finding(str(folder), "no .avsc files")]
    for name, text in texts.items():
        try:
            json.loads(text)
        except ValueError as exc:
            findings.append(Finding(name, f"not JSON: {exc}"))
    known = model.load_catalog(t for n, t in texts.items() if not any(f.where == n for f in findings))
    for full in known:
        try:
            expanded = model.schema(full, known)
            avro.schema.parse(json.dumps(expanded))
        except (avro.errors.AvroException, KeyError, ValueError) as exc:
            findings.append(Finding(full, f"invalid Avro: {exc}"))
            continue
        findings += [Finding(full, p) for p in lint(expanded)]
    return known, findings


def registry_reachable(url: str) -> bool:
    try:
        return requests.get(f"{url.rstrip('/')}/subjects", timeout=3).ok
    except requests.RequestException:
        return False


def against_registry(known: model.Catalog, url: str) -> list[Finding]:
    client = RegistryClient(url)
    findings: list[Finding] = []
    for subject in client.subjects():
        latest = json.loads(client.latest(subject)["schema"])
        if not isinstance(latest, dict) or "name" not in latest:
            continue
        full = f"{latest.get('namespace', '')}.{latest['name']}"
        entity = full.removesuffix("Event")
        try:
            if full in known:
                candidate = model.schema(full, known)
            elif entity != full and entity in known:
                candidate = model.envelope(entity, known)
            else:
                continue
            problems = client.compatibility(subject, candidate)
        except RegistryError as exc:
            findings.append(Finding(subject, f"registry: {exc.message}"))
            continue
        findings += [Finding(f"{subject} ({full})", p) for p in problems]
    return findings


def _git(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(top), *args], capture_output=True, text=True)


def default_base(folder: Path) -> str:
    """The merge base of HEAD and the default branch (origin's HEAD, else main, else master)."""
    top = Path(_git(folder, "rev-parse", "--show-toplevel").stdout.strip() or folder)
    origin = _git(top, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD").stdout.strip()
    for branch in ([origin] if origin else []) + ["main", "master"]:
        base = _git(top, "merge-base", "HEAD", branch)
        if base.returncode == 0:
            return base.stdout.strip()
    raise CheckError("no default branch (origin/HEAD, main or master) to compare with: give --against REV")


def _git_catalog(folder: Path, ref: str) -> model.Catalog | None:
    repo = _git(folder, "rev-parse", "--show-toplevel")
    if repo.returncode != 0:
        return None
    top = Path(repo.stdout.strip())
    if _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise CheckError(f"--against {ref!r} is not a git revision in {top}")
    rel = folder.resolve().relative_to(top.resolve())
    listing = _git(top, "ls-tree", "--name-only", f"{ref}:{rel}")
    if listing.returncode != 0:
        return {}  # the folder did not exist at that revision: nothing to break
    texts = []
    for name in listing.stdout.split():
        if name.endswith(".avsc"):
            shown = subprocess.run(
                ["git", "-C", str(top), "show", f"{ref}:{rel}/{name}"],
                capture_output=True,
                text=True,
                check=True,
            )
            texts.append(shown.stdout)
    return model.load_catalog(texts)


def against_git(known: model.Catalog, folder: Path, ref: str, mode: str) -> list[Finding]:
    previous = _git_catalog(folder, ref)
    if previous is None:
        return [Finding(str(folder), "no registry reachable and not a git checkout: nothing to compare")]
    findings: list[Finding] = []
    for full in known:
        if full not in previous:
            continue
        new = avro.schema.parse(json.dumps(model.schema(full, known)))
        old = avro.schema.parse(json.dumps(model.schema(full, previous)))
        findings += [Finding(f"{full} (vs {ref})", p) for p in compat_check(new, [old], mode)]
    return findings


def check(
    folder: Path, registry_url: str | None, ref: str | None = None, mode: str = "BACKWARD"
) -> tuple[str, list[Finding]]:
    """(what the schemas were compared with, findings); no findings means publishable.

    ``registry_url`` None compares with git at ``ref`` (default: :func:`default_base`). Raises
    CheckError when the registry does not answer or ``ref`` is not a revision."""
    known, findings = lint_folder(folder)
    if findings:
        return "lint", findings
    if registry_url is not None:
        if not registry_reachable(registry_url):
            raise CheckError(
                f"the registry at {registry_url} does not answer; start it, point CIVICBUS_REGISTRY_URL "
                "at yours, or compare with git using --no-registry"
            )
        return f"registry {registry_url}", against_registry(known, registry_url)
    revision = ref or default_base(folder)
    return f"git {revision} ({mode})", against_git(known, folder, revision, mode)
