"""Every sentence daskfft says to its user lives in ``daskfft.messages`` (issue 21).

The check reads the source, as import-linter reads the imports: a ``raise``, warning,
print or log call at INFO and above whose message is a literal with words in it, written
anywhere but ``daskfft/messages/``, fails it.  Debug lines are the developers' and stay
where they are.
"""

import ast
import string
from pathlib import Path

import pytest

import daskfft
from daskfft import messages

PACKAGE = Path(daskfft.__file__).parent
#: Calls that say something to the user, by the name called.
SAYING = {"warn", "info", "warning", "error", "critical", "exception", "print", "exit"}


def _wordy(node):
    """Whether ``node`` is (or formats, or joins, or concatenates) a literal with words."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_wordy(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _wordy(node.left) or _wordy(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join") and _wordy(node.func.value)
    return False


def _says(call, raised):
    name = getattr(call.func, "attr", None) or getattr(call.func, "id", "")
    exception = name[:1].isupper() and name.endswith(("Error", "Warning", "Exception"))
    return exception or name in SAYING or id(call) in raised


def inline_sentences(root):
    """``path:line`` of every call in ``root``'s modules (but messages/) that says an
    inline sentence."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "messages":
            continue
        tree = ast.parse(path.read_text(), str(path))
        raised = {id(n.exc) for n in ast.walk(tree) if isinstance(n, ast.Raise)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _says(node, raised):
                args = [*node.args, *(k.value for k in node.keywords if k.arg in ("msg",))]
                if any(_wordy(arg) for arg in args):
                    found.append((str(rel), node.lineno))
    return [f"{rel}:{line}" for rel, line in sorted(found)]


def test_every_sentence_is_in_messages():
    assert inline_sentences(PACKAGE) == []


def test_the_check_finds_an_inline_sentence(tmp_path):
    """The check itself: each way of writing a sentence inline is found, a template is not."""
    (tmp_path / "mod.py").write_text(
        "import logging, warnings\n"
        "from daskfft.messages import io as msg\n"
        "log = logging.getLogger(__name__)\n"
        "def f(path, exc):\n"
        "    log.debug(f'read {path}')\n"  # the developers': allowed
        "    log.info(msg.NOT_A_TIFF.format(path=path))\n"  # a template: allowed
        "    log.warning(f'input {path}: odd')\n"  # 7
        "    warnings.warn('slow: ' + str(exc))\n"  # 8
        "    print('{} rows'.format(3))\n"  # 9
        "    raise ValueError(f'bad {path}')\n"  # 10
        "    raise Busy('in use')\n"  # 11: any exception raised
    )
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "io.py").write_text("NOT_A_TIFF = 'input {path}: not a TIFF'\n")
    assert inline_sentences(tmp_path) == [
        "mod.py:7",
        "mod.py:8",
        "mod.py:9",
        "mod.py:10",
        "mod.py:11",
    ]


def _templates():
    for module in sorted(PACKAGE.joinpath("messages").glob("*.py")):
        if module.stem == "__init__":
            continue
        mod = __import__(f"daskfft.messages.{module.stem}", fromlist=["_"])
        for name, value in vars(mod).items():
            if name.isupper() and isinstance(value, str):
                yield f"{module.stem}.{name}", value


@pytest.mark.parametrize(("name", "template"), list(_templates()))
def test_each_template_is_a_format_string_with_named_fields(name, template):
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    assert all(f and not f.isdigit() for f in fields), (name, fields)


def test_messages_import_nothing_of_daskfft():
    for path in PACKAGE.joinpath("messages").glob("*.py"):
        tree = ast.parse(path.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [getattr(n, "module", None) or n.names[0].name for n in imports]
        assert not [n for n in names if n and n.startswith("daskfft")], (path.name, names)
    assert messages.__doc__
