"""The README and docs stay true to the programs: every ``python -m`` program
they show exists, and every flag they pass to it is one the program takes."""

import contextlib
import functools
import glob
import importlib
import io
import os
import re

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = [os.path.join(REPOSITORY, "README.md"),
             *sorted(glob.glob(os.path.join(REPOSITORY, "docs", "*.md")))]
PROGRAM = re.compile(r"python -m ((?:train|export)\.\w+)")


def _commands():
    """``(document, program, flags)`` of every ``python -m`` command in a code
    block, with backslash-continued lines joined."""
    found = []
    for path in DOCUMENTS:
        text = open(path).read()
        for block in re.findall(r"```(?:bash)?\n(.*?)```", text, re.S):
            for command in block.replace("\\\n", " ").splitlines():
                match = PROGRAM.search(command)
                if match:
                    rest = command[match.end():].split("#", 1)[0]
                    flags = re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest)
                    found.append((os.path.relpath(path, REPOSITORY), match[1], flags))
    return found


@functools.lru_cache(maxsize=None)
def _help(program):
    """``python -m program --help``'s text, from the program's ``main`` in
    this process (argparse prints the help and exits with status 0)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit) as exit_status:
        importlib.import_module(program).main(["--help"])
    assert exit_status.value.code == 0, f"{program} --help failed"
    return output.getvalue()


def test_the_docs_show_commands():
    programs = {program for _, program, _ in _commands()}
    assert {"train.universal", "train.image_dependent", "train.evaluate", "train.benchmark",
            "export.savedmodel"} <= programs


@pytest.mark.parametrize("program", sorted({program for _, program, _ in _commands()}))
def test_every_flag_in_the_docs_is_taken_by_its_program(program):
    text = _help(program)
    for document, name, flags in _commands():
        if name != program:
            continue
        unknown = [flag for flag in flags if not re.search(rf"{re.escape(flag)}\b", text)]
        assert not unknown, f"{document}: python -m {program} does not take {unknown}"


def test_relative_links_point_to_files_that_exist():
    for path in DOCUMENTS:
        prose = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)  # not code
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", prose):
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            assert os.path.exists(resolved), f"{os.path.relpath(path, REPOSITORY)} links {target}"


def _anchors(path):
    """The anchors GitHub gives the headings of a Markdown file: lower case,
    punctuation dropped, spaces as hyphens, repeats numbered."""
    anchors, seen = set(), {}
    text = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
        slug = slug.replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_links_to_a_section_name_a_heading_that_exists():
    for path in DOCUMENTS:
        prose = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)
        for target, anchor in re.findall(r"\]\(([^)#:]*\.md)?#([^)]+)\)", prose):
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target)) \
                if target else path
            assert anchor in _anchors(resolved), (
                f"{os.path.relpath(path, REPOSITORY)} links {target}#{anchor}: no such heading")
