"""Griffe extension for the API reference: shows the docstrings' doctest
examples (``>>>`` lines and their expected output) as Python code blocks.

Google-style docstrings put examples anywhere in their text; Markdown would
otherwise read ``>>>`` as nested block quotes and ``[[...]]`` output as links.
"""

import griffe


def fence_doctests(text: str) -> str:
    out, in_example, example_indent = [], False, ""
    for line in text.split("\n"):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith(">>>") and not in_example:
            out.append(f"{indent}```python")
            in_example = True
        elif in_example and not stripped:
            out.append(f"{example_indent}```")
            in_example = False
        if in_example and stripped.startswith(">>>") and len(out) and out[-1].endswith("```python"):
            example_indent = indent
        out.append(line)
    if in_example:
        out.append(f"{example_indent}```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
