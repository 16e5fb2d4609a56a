"""The documentation: links, anchors, cited files and code snippets.

* Every relative link and ``#anchor`` in README.md, CHANGELOG.md and
  docs/*.md points at a file of the repository and at a heading of it.
  Anchors are computed as the renderer computes them: MkDocs (Python-Markdown's
  ``toc`` slugify) for docs/, GitHub for README.md and CHANGELOG.md.
* Every repository path cited in the tracked text files (docs, comments,
  docstrings, build files) exists; no file cites a document the repository
  does not contain.
* Every ``python`` code block of README.md and docs/*.md runs, in order, one
  namespace per page, in a scratch directory; blocks written as doctests
  (``>>>``) have their output checked. ``$ tf-mlm ...`` lines of console
  blocks run too, after the Python blocks before them.

``python tests/test_docs.py PAGE DIR`` runs one page's snippets in DIR (the
test runs docs/export.md that way, in a child process: its tf.data service
servers listen on every interface, so they run in a loopback-only network
namespace when the machine allows one, as in tests/test_data_service.py).
"""

from __future__ import annotations

import doctest
import glob
import html.parser
import linecache
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple
from urllib.parse import unquote, urlsplit

import pytest

try:
    import markdown  # the `test` extra's (pyproject.toml)
except ImportError as e:  # a failure, not a skip: the test environment is incomplete
    raise ImportError(
        "tests/test_docs.py needs `markdown`, a dependency of tf_mlm's `test` extra: "
        'pip install -e ".[test]"'
    ) from e

ROOT = Path(__file__).resolve().parent.parent
GITHUB_PAGES = ("README.md", "CHANGELOG.md")  # rendered by GitHub / PyPI
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
LINKED_PAGES = [*GITHUB_PAGES, *PAGES]
SNIPPET_PAGES = ["README.md", *PAGES]
ISOLATED_PAGES = {"docs/export.md"}  # run in a child process (see above)


# --- anchors --------------------------------------------------------------------------------


def github_slugify(value: str, separator: str = "-") -> str:
    """GitHub's heading ids: lower case, punctuation other than ``-`` and
    ``_`` dropped, each space a hyphen (not collapsed)."""
    value = value.strip().lower()
    value = "".join(c for c in value if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return value.replace(" ", separator)


def _markdown(slugify=None) -> "markdown.Markdown":
    toc = {"slugify": slugify} if slugify else {}
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "toc"], extension_configs={"toc": toc}
    )


def _ids(tokens) -> Iterator[str]:
    for token in tokens:
        yield token["id"]
        yield from _ids(token["children"])


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: List[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.links.append(attrs["src"])


def render(page: str) -> Tuple[Set[str], List[str]]:
    """The heading ids of ``page`` and the links and image sources in it
    (code blocks and code spans excluded, as the renderers exclude them)."""
    md = _markdown(github_slugify if page in GITHUB_PAGES else None)
    html_text = md.convert((ROOT / page).read_text(encoding="utf-8"))
    ids = list(_ids(md.toc_tokens))
    if page in GITHUB_PAGES:
        # GitHub numbers repeated headings "-1", Python-Markdown "_1": keep them unique.
        assert len(ids) == len(set(ids)), f"{page}: repeated headings {sorted(ids)}"
    parser = _Links()
    parser.feed(html_text)
    return set(ids), parser.links


_RENDERED: Dict[str, Tuple[Set[str], List[str]]] = {}


def rendered(page: str) -> Tuple[Set[str], List[str]]:
    if page not in _RENDERED:
        _RENDERED[page] = render(page)
    return _RENDERED[page]


def broken_links(page: str) -> List[str]:
    problems = []
    for link in rendered(page)[1]:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            continue  # external
        target = (ROOT / page).parent / unquote(parts.path) if parts.path else ROOT / page
        target = target.resolve()
        rel = os.path.relpath(target, ROOT)
        if rel.startswith(".."):
            problems.append(f"{page}: {link}: outside the repository")
            continue
        if not target.exists():
            problems.append(f"{page}: {link}: no file {rel}")
            continue
        if page.startswith("docs/") and not rel.startswith("docs" + os.sep):
            problems.append(f"{page}: {link}: the site has only docs/; cite {rel} as code")
            continue
        if parts.fragment:
            if target.suffix != ".md":
                problems.append(f"{page}: {link}: an anchor into a file that is not Markdown")
            elif parts.fragment not in rendered(rel)[0]:
                problems.append(f"{page}: {link}: no heading #{parts.fragment} in {rel}")
    return problems


@pytest.mark.parametrize("page", LINKED_PAGES)
def test_relative_links_and_anchors_resolve(page):
    assert broken_links(page) == []


def test_slugs_match_the_renderers():
    assert (
        github_slugify("Keras: `tf_mlm.layers.MaskedLMMaskGenerator`")
        == "keras-tf_mlmlayersmaskedlmmaskgenerator"
    )
    assert github_slugify("PyTorch and JAX: MLMCollator") == "pytorch-and-jax-mlmcollator"
    ids, _ = render("docs/building.md")
    assert "pip-how-it-is-built" in ids  # MkDocs' slugify
    assert "choosing-the-python" in ids


def _md(stem: str) -> str:
    """A Markdown file name, assembled so that the made-up pages of the two
    tests below are not themselves citations of missing files."""
    return stem + "." + "md"


def test_a_broken_link_or_anchor_is_reported(tmp_path, monkeypatch):
    a, b, c = _md("first"), _md("second"), _md("absent")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / a).write_text("# A\n\n## Real heading\n")
    (tmp_path / "docs" / b).write_text(
        f"# B\n\n[ok]({a}#real-heading) [bad anchor]({a}#nope) [bad file]({c})\n"
        f"`[not a link]({c})`\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _RENDERED.clear()
    try:
        assert broken_links(f"docs/{b}") == [
            f"docs/{b}: {a}#nope: no heading #nope in docs/{a}",
            f"docs/{b}: {c}: no file docs/{c}",
        ]
    finally:
        _RENDERED.clear()


# --- cited repository paths -----------------------------------------------------------------

TOP_DIRS = ("cc", "tf_mlm", "tests", "benchmarks", "docs", "third_party", ".ci")
PATH_RE = re.compile(
    r"(?<![\w./~$@:-])((?:%s)/[\w.*/-]*[\w*/])" % "|".join(re.escape(d) for d in TOP_DIRS)
)
UPPER_MD_RE = re.compile(r"(?<![\w./-])([A-Z][A-Z_]*\.md)\b")
TEXT_SUFFIXES = {
    ".md",
    ".py",
    ".cc",
    ".h",
    ".inc",
    ".sh",
    ".bzl",
    ".toml",
    ".yml",
    ".yaml",
    ".cfg",
    ".txt",
    ".json",
}
TEXT_NAMES = {"BUILD", "WORKSPACE", ".bazelrc", ".bazelignore", ".gitignore", "run"}
# Paths that exist only once built or run (all of them ignored by git, see .gitignore):
# checked with `git check-ignore` below. Paths that exist only in an installed wheel:
WHEEL_ONLY = {"tf_mlm/_src"}


def _is_checkout() -> bool:
    """True in a git checkout of the repository; False in a copy of its
    sources (tests/tf_matrix.sh tests such a copy), where git can tell
    neither the tracked nor the ignored files."""
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True
    )
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == ROOT.resolve()


def _tracked_text_files() -> List[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        f
        for f in out
        if (Path(f).suffix in TEXT_SUFFIXES or Path(f).name in TEXT_NAMES)
        and "/corpus/" not in f
        and not f.startswith("tests/fuzz/regressions/")
        and (ROOT / f).is_file()
    ]


def _ignored(path: str) -> bool:
    return (
        subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0
    )


def _exists(cited: str) -> bool:
    path = cited.rstrip("/")
    if path in WHEEL_ONLY:
        return True
    if any(c in path for c in "*?["):
        return bool(glob.glob(str(ROOT / path)))
    if (ROOT / path).exists():
        return True
    # a module named by its path (tf_mlm/_core): its source or built file
    if glob.glob(str(ROOT / path) + ".*"):
        return True
    return _ignored(path) or _ignored(path + "/")


def missing_citations(files: List[str]) -> List[str]:
    problems = []
    for name in files:
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            for match in PATH_RE.finditer(line):
                cited = match.group(1).rstrip(".")
                if not _exists(cited):
                    problems.append(f"{name}:{lineno}: {cited}")
            for match in UPPER_MD_RE.finditer(line):
                cited = match.group(1)
                if not (ROOT / cited).exists() and not ((ROOT / name).parent / cited).exists():
                    problems.append(f"{name}:{lineno}: {cited}")
    return problems


def test_cited_repository_files_exist():
    if not _is_checkout():
        pytest.skip(
            "not a git checkout (a copy of the sources, as tests/tf_matrix.sh makes): "
            "the check needs git's tracked and ignored files; it runs in the checkout"
        )
    files = _tracked_text_files()
    files += [
        str(p.relative_to(ROOT))
        for p in (ROOT / "docs").glob("*.md")
        if str(p.relative_to(ROOT)) not in files
    ]  # new pages, not yet committed
    assert "README.md" in files and "docs/semantics.md" in files
    assert missing_citations(files) == []


def test_a_missing_cited_file_is_reported(tmp_path, monkeypatch):
    page, gone_doc = "/".join(["docs", _md("page")]), "/".join(["docs", _md("gone")])
    gone_top = _md("GONE")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "semantics.md").write_text("# Semantics\n")
    (tmp_path / page).write_text(f"See {gone_top} and {gone_doc}, not docs/semantics.md.\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert missing_citations([page]) == [f"{page}:1: {gone_doc}", f"{page}:1: {gone_top}"]


# --- code snippets --------------------------------------------------------------------------

FENCE_RE = re.compile(r"^( *)(```+)\s*([\w+-]*)\s*$")


def snippets(page: str) -> List[Tuple[str, int, str]]:
    """(language, first line, code) of each fenced block of ``page``."""
    blocks, lines = [], (ROOT / page).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        blocks.append((lang, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _console_commands(code: str) -> List[str]:
    """The ``$ tf-mlm ...`` commands of a console block (``\\`` continues a line)."""
    commands, current = [], None
    for line in code.splitlines():
        if current is not None:
            current += " " + line.strip().rstrip("\\")
            if not line.rstrip().endswith("\\"):
                commands.append(current)
                current = None
        elif line.startswith("$ tf-mlm "):
            current = line[2:].rstrip().rstrip("\\")
            if not line.rstrip().endswith("\\"):
                commands.append(current)
                current = None
    return commands


def _tf_mlm_command() -> List[str]:
    script = Path(sys.executable).parent / "tf-mlm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tf_mlm.cli"]


def run_page(page: str) -> None:
    """Runs the snippets of ``page`` in the current directory."""
    namespace: dict = {"__name__": f"docs_snippets_{Path(page).stem}"}
    for lang, lineno, code in snippets(page):
        where = f"{page}:{lineno}"
        if lang == "python":
            if code.lstrip().startswith(">>>"):
                test = doctest.DocTestParser().get_doctest(code, namespace, where, page, lineno)
                runner = doctest.DocTestRunner(
                    optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
                )
                result = runner.run(test, clear_globs=False)
                namespace.update(test.globs)  # DocTest ran on a copy
                if result.failed:
                    raise AssertionError(f"{where}: {result.failed} doctest example(s) failed")
            else:
                # Source lines for tracebacks and for AutoGraph, which reads the source.
                linecache.cache[where] = (len(code), None, code.splitlines(True), where)
                exec(compile(code, where, "exec"), namespace)
        elif lang in ("", "console", "sh", "shell"):
            for command in _console_commands(code):
                argv = _tf_mlm_command() + shlex.split(command)[1:]
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
                if proc.returncode != 0:
                    raise AssertionError(
                        f"{where}: `{command}` exited with {proc.returncode}:\n"
                        f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
                    )


def _has_snippets(page: str) -> bool:
    return any(lang == "python" or _console_commands(code) for lang, _, code in snippets(page))


@pytest.mark.parametrize("page", [p for p in SNIPPET_PAGES if _has_snippets(p)])
def test_snippets_run(page, tmp_path, monkeypatch):
    if page in ISOLATED_PAGES:
        _run_isolated(page, tmp_path)
        return
    monkeypatch.chdir(tmp_path)
    try:
        run_page(page)
    except ModuleNotFoundError as e:
        # seqio: docs/t5.md (the `t5` extra; tests/t5_job.sh runs the page with it)
        if e.name in ("tensorflow_text", "keras_hub", "torch", "transformers", "seqio"):
            pytest.skip(f"{page} uses {e.name}, which is not installed")
        raise


def _run_isolated(page: str, workdir: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _subprocess_utils as spu

    with spu.LoopbackNamespace() as ns:
        proc = subprocess.run(
            [*ns.prefix, sys.executable, __file__, page, str(workdir)],
            capture_output=True,
            text=True,
            timeout=900,
            env=spu.child_env(),
        )
    assert proc.returncode == 0, f"{page}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.chdir(sys.argv[2])
    run_page(sys.argv[1])
