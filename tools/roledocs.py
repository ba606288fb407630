#!/usr/bin/env python3
"""Role documentation generated from each role's meta/argument_specs.yml: docs/roles/<role>.md.

    roledocs.py           write docs/roles/<role>.md of every role with a spec, remove the
                          files of roles that no longer exist (`make docs`)
    roledocs.py --check   write nothing; print each stale, missing or extra file and exit 1
                          when there is one, else 0 (`make lint`)

The spec is the one source of a role's inputs: the page lists every option in spec order
with its type, default, whether it is required, its choices, its description and the
options of its elements (lists of dicts) or keys (dicts). An option whose description says
`(wired` is set by the stack's wiring (group_vars/all/wiring.yml) and is flagged as such.
The output depends on the specs only (no dates), so --check compares byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = Path("docs") / "roles"
SPEC = Path("meta") / "argument_specs.yml"
WIRED_MARKER = "(wired"
WIRED_LINE = "**Wired** — set by group_vars/all/wiring.yml; do not set it in an inventory."
INLINE_WIDTH = 80  # a list or dict longer than this as inline JSON is shown as a YAML block


def _text(value) -> str:
    """A description: a string, or a list of paragraphs (Ansible allows both)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(str(v).strip() for v in value)
    return str(value).strip()


def _escape(text: str) -> str:
    """Markdown-safe prose: `<name>` is not an HTML tag, `*` and word-edge `_` no emphasis."""
    text = text.replace("\\", "\\\\").replace("<", "\\<").replace("*", "\\*")
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)
    # a paragraph line must not start a list, a heading or a quote
    return re.sub(r"(?m)^(\s*)([-+#>]|\d+[.)])(?=\s|$)", r"\1\\\2", text)


def _code(text: str) -> str:
    """Inline code of any text (backticks inside get a longer fence)."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _inline(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _is_block(value) -> bool:
    if isinstance(value, str):
        return "\n" in value
    return isinstance(value, (list, dict)) and len(_inline(value)) > INLINE_WIDTH


class _Dumper(yaml.SafeDumper):
    """YAML without anchors and aliases: a value used twice is written out twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def _block(value, indent: str) -> list[str]:
    body = yaml.dump(value, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1000)
    if body.endswith("...\n"):  # a plain scalar's document end
        body = body[: -len("...\n")]
    fence = "```"
    while fence in body:
        fence += "`"
    return [
        f"{indent}{fence}yaml",
        *(f"{indent}{line}" if line else "" for line in body.splitlines()),
        f"{indent}{fence}",
    ]


def _type(spec: dict) -> str:
    kind = _code(str(spec.get("type", "str")))
    if "elements" in spec:
        kind += f" of {_code(str(spec['elements']))}"
    return kind


def _choices(spec: dict) -> str:
    return ", ".join(_code(_inline(c) if not isinstance(c, str) else c) for c in spec["choices"])


def is_wired(spec: dict) -> bool:
    return WIRED_MARKER in _text(spec.get("description")).lower()


def _nested(options: dict, depth: int) -> list[str]:
    """Options of a dict or of a list's dict elements: an indented list, one item each."""
    indent = "  " * depth
    lines = []
    for name, spec in options.items():
        spec = spec or {}
        facts = [_type(spec)]
        if spec.get("required"):
            facts.append("required")
        if "default" in spec:
            facts.append(f"default {_code(_inline(spec['default']))}")
        if "choices" in spec:
            facts.append(f"choices {_choices(spec)}")
        if spec.get("no_log"):
            facts.append("secret (`no_log`)")
        item = f"{indent}- {_code(name)} ({', '.join(facts)})"
        description = " ".join(_escape(_text(spec.get("description"))).split())
        if description:
            item += f": {description}"
        if is_wired(spec):
            item += f" {WIRED_LINE}"
        lines.append(item)
        if spec.get("options"):
            lines += _nested(spec["options"], depth + 1)
    return lines


def _option(name: str, spec: dict, level: str) -> list[str]:
    spec = spec or {}
    lines = [f"{level} {_code(name)}", ""]
    if is_wired(spec):
        lines += [WIRED_LINE, ""]
    lines.append(f"- Type: {_type(spec)}")
    if "default" in spec:
        default = spec["default"]
        if _is_block(default):
            lines += ["- Default:", "", *_block(default, "  "), ""]
        else:
            lines.append(f"- Default: {_code(_inline(default))}")
    lines.append(f"- Required: {'yes' if spec.get('required') else 'no'}")
    if "choices" in spec:
        lines.append(f"- Choices: {_choices(spec)}")
    if spec.get("no_log"):
        lines.append("- Secret: yes (`no_log`, kept out of logs)")
    while lines[-1] == "":
        lines.pop()
    lines.append("")
    description = _escape(_text(spec.get("description")))
    if description:
        lines += [description, ""]
    if spec.get("options"):
        what = "Options of each element" if spec.get("type") == "list" else "Keys"
        lines += [f"{what}:", "", *_nested(spec["options"], 0), ""]
    return lines


def render(role_dir: Path) -> str:
    """docs/roles/<role>.md of the role in role_dir, from its meta/argument_specs.yml alone."""
    role_dir = Path(role_dir)
    role = role_dir.name
    spec_path = f"roles/{role}/{SPEC.as_posix()}"
    specs = (yaml.safe_load((role_dir / SPEC).read_text()) or {}).get("argument_specs") or {}
    lines = [
        f"<!-- Generated by tools/roledocs.py from {spec_path}: do not edit by hand. "
        "Change the spec, then run `python tools/roledocs.py`. -->",
        "",
        f"# Role {_code(role)}: inputs",
        "",
    ]
    several = len(specs) > 1
    for entry, entry_spec in specs.items():
        entry_spec = entry_spec or {}
        if several:
            lines += [f"## Entry point {_code(entry)}", ""]
        for key in ("short_description", "description"):
            text = _escape(_text(entry_spec.get(key)))
            if text:
                lines += [text, ""]
        options = entry_spec.get("options") or {}
        lines += [
            f"Entry point {_code(entry)}, {len(options)} option{'' if len(options) == 1 else 's'}, "
            f"from [{_code(spec_path)}](../../{spec_path}); "
            f"the role's README: [{_code(f'roles/{role}/README.md')}](../../roles/{role}/README.md).",
            "",
        ]
        level = "###" if several else "##"
        for name, option in options.items():
            lines += _option(name, option, level)
    return "\n".join(lines).rstrip("\n") + "\n"


def roles(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in (Path(root) / "roles").glob(f"*/{SPEC.as_posix()}"))


def _expected(root: Path) -> dict[str, str]:
    return {(DOCS / f"{role.name}.md").as_posix(): render(role) for role in roles(root)}


def _differences(root: Path) -> list[tuple[str, str]]:
    """(path, stale | missing | extra) of every file of docs/roles that is not as generated."""
    root = Path(root)
    expected = _expected(root)
    found = {p.relative_to(root).as_posix() for p in (root / DOCS).glob("*.md")}
    out = []
    for path in sorted(set(expected) | found):
        if path not in expected:
            out.append((path, "extra"))
        elif path not in found:
            out.append((path, "missing"))
        elif (root / path).read_text() != expected[path]:
            out.append((path, "stale"))
    return out


def stale(root: Path) -> list[str]:
    """The files of docs/roles that `roledocs.py` would write or remove (stale, missing, extra)."""
    return [path for path, _ in _differences(root)]


def write(root: Path) -> list[str]:
    """Write every role's page and remove the pages of roles that no longer exist; the paths touched."""
    root = Path(root)
    expected = _expected(root)
    (root / DOCS).mkdir(parents=True, exist_ok=True)
    touched = []
    for path, kind in _differences(root):
        if kind == "extra":
            (root / path).unlink()
        else:
            (root / path).write_text(expected[path])
        touched.append(f"{path}: {'removed' if kind == 'extra' else 'written'}")
    return touched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="roledocs.py",
        description="Generate docs/roles/<role>.md from every role's meta/argument_specs.yml.",
        epilog="Exit status with --check: 0 up to date, 1 a file is stale, missing or extra.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is not as generated")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    if args.check:
        differences = _differences(args.root)
        for path, kind in differences:
            print(f"{path}: {kind}")
        if differences:
            print("roledocs.py: docs/roles is not as generated; run `python tools/roledocs.py`", file=sys.stderr)
            return 1
        return 0
    for line in write(args.root):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
