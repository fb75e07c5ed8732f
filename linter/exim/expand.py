"""The part of Exim's string expansion a static model can evaluate honestly.

Variables the probe determines ($sender_host_address, $received_port, $tls_in_cipher, ...), `${if}`
with the common conditions, `${env}` unknown, `\\N...\\N` and backslash escapes. Anything else
(lookups, `${run}`, `${readsocket}`, variables nobody set) makes the whole value undecidable: the
result is None and `why` says what stopped it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from mailcfg.asciidigits import digits


class Undecidable(Exception):
    pass


class ExpansionError(Exception):
    """A string Exim itself cannot expand (a `$` with no name after it, a brace missing): a temporary error."""


class ForcedFail(Exception):
    """`${if ...{}fail}` and friends: Exim's forced expansion failure."""


@dataclass(slots=True)
class Context:
    """What an expansion can know: variables, and how to look at the host's files."""

    variables: dict[str, str] = field(default_factory=dict)  # what is known; a missing name is undecidable
    exists: Callable[[str], bool | None] = lambda _path: None  # a file on the host; None: not known
    read_lines: Callable[[str], list[str] | None] = lambda _path: None  # a host file's lines; None: not known
    host_in: Callable[[str, str], bool | None] = lambda _ip, _list: None  # match_ip: an address in a host list
    # What expansions that read a file's lines gave, by text and the values of the variables they read (a
    # trie, see _recall): shared by the sessions of one configuration, whose files answer every probe alike.
    # The others are kept for the whole run (_SHARED). None: nothing is kept.
    answers: dict[str, _Read | Expanded] | None = None
    # How often expansions consulted the session (read a variable, asked host_in): an answer found
    # while this stayed put is the same for every probe with the same subject (match.match_list)
    consulted: int = 0


class Expanded(NamedTuple):  # a tuple: made for every expansion a new probe asks for
    """The result of an expansion, or why there is none."""

    value: str | None  # None: undecidable, or an error
    why: str = ""
    forced_fail: bool = False
    error: bool = False  # Exim fails to expand it too (the ACL then defers)


# Answers that read nothing but variables and whether files exist (each recorded with its value) hold for
# any configuration: kept for the whole run, as a fleet's configurations expand much the same texts. So
# that a long run stays bounded, a text's answers start over after _ANSWERS_PER_TEXT of them (a text that
# reads the client's address gets one per client).
_SHARED: dict[str, _Read | Expanded] = {}
_SHARED_ANSWERS: dict[str, int] = {}  # how many answers each text's tree holds
_SHARED_TEXTS = 16384
_ANSWERS_PER_TEXT = 256


def expand(text: str, ctx: Context) -> Expanded:
    if ctx.answers is None:
        return Expanded(text) if "$" not in text and "\\" not in text else _expand(_Parser(text, ctx))
    known = _SHARED.get(text)
    if not isinstance(known, Expanded):  # else an answer that read nothing (an ACL's name): no tree to walk
        known = _recall(known, ctx)
        if known is None:
            known = _recall(ctx.answers.get(text), ctx)
    if known is not None:
        return known
    if "$" not in text and "\\" not in text:
        result, reads, read_lines = Expanded(text), [], False
    else:
        parser = _Parser(text, ctx, reads=[])
        result, reads, read_lines = _expand(parser), parser.reads, parser.read_lines
    if reads is None:
        return result
    if read_lines:
        ctx.answers[text] = _remember(ctx.answers.get(text), reads, result)
        return result
    if len(_SHARED) >= _SHARED_TEXTS and text not in _SHARED:
        _SHARED.clear()
        _SHARED_ANSWERS.clear()
    kept = _SHARED_ANSWERS.get(text, 0)
    root = _SHARED.get(text) if kept < _ANSWERS_PER_TEXT else None
    _SHARED[text] = _remember(root, reads, result)
    _SHARED_ANSWERS[text] = kept + 1 if root is not None else 1
    return result


def _expand(parser: _Parser) -> Expanded:
    text = parser.s
    try:
        value, _ = parser.run(0, stop="")
        return Expanded(value)
    except ForcedFail:
        return Expanded(None, "the expansion is forced to fail", forced_fail=True)
    except ExpansionError as exc:
        return Expanded(None, f"Exim cannot expand {text!r}: {exc}", error=True)
    except Undecidable as exc:
        return Expanded(None, str(exc))


_MISSING = object()  # a variable nobody set, as an expansion read it


@dataclass
class _Read:
    """A variable an expansion read (or `("exists", path)`: whether a file exists), and what it went on
    to do for each value it had."""

    name: str | tuple[str, str]
    then: dict[object, _Read | Expanded]  # value (or _MISSING) -> the next variable read, or the answer


def _recall(node: _Read | Expanded | None, ctx: Context) -> Expanded | None:
    """The answer an expansion gave before with the same values of every variable it read (it reads
    the same ones in the same order for as long as their values agree: it is deterministic)."""
    variables = ctx.variables
    while isinstance(node, _Read):
        name = node.name
        if isinstance(name, tuple):  # asked as the expansion itself asks: once per configuration and path
            node = node.then.get(ctx.exists(name[1]))
            continue
        ctx.consulted += 1
        node = node.then.get(variables.get(name, _MISSING))
    return node


def _remember(root: _Read | Expanded | None, reads: list[tuple[str | tuple[str, str], object]], answer: Expanded
              ) -> _Read | Expanded:
    """`root` with one more path: the variables read, in order, with their values, then the answer."""
    if not reads:
        return answer
    root = root if isinstance(root, _Read) else _Read(reads[0][0], {})
    node = root
    for i, (name, value) in enumerate(reads):
        if node.name != name:  # a deterministic expansion never gets here; then it is not remembered
            return root
        follows = node.then.get(value)
        if follows is None:
            follows = node.then[value] = _Read(reads[i + 1][0], {}) if i + 1 < len(reads) else answer
        if not isinstance(follows, _Read):
            return root
        node = follows
    return root


def truth(value: str) -> bool | None:
    """A `condition =` result: false for "", 0, no, false; true for other numbers, yes, true; None otherwise."""
    v = value.strip().lower()
    if v in ("", "no", "false"):
        return False
    if v in ("yes", "true"):
        return True
    try:
        return int(v) != 0
    except ValueError:
        return None


_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


MAX_NESTING = 50  # expansions and conditions nested deeper are left undecided, never followed to a crash


class _Parser:
    def __init__(self, text: str, ctx: Context, reads: list[tuple[str | tuple[str, str], object]] | None = None
                 ) -> None:
        self.s = text
        self.ctx = ctx
        self.depth = 0
        # the variables read so far and their values, for Context.answers; None when the answer depends on
        # more than they (a match_ip consults the probe's host and the trace)
        self.reads = reads
        self.read_lines = False  # a file's lines were read: the answer holds for this configuration only
        self.bound = 0  # ${lookup} branches being expanded: $value is then the lookup's own

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise Undecidable(f"expansions nested more than {MAX_NESTING} deep are not evaluated offline")

    def run(self, i: int, stop: str) -> tuple[str, int]:
        """Expand from `i` up to an unescaped character in `stop` (or the end); returns (value, index)."""
        self._deeper()
        try:
            return self._run(i, stop)
        finally:
            self.depth -= 1

    def _run(self, i: int, stop: str) -> tuple[str, int]:
        out: list[str] = []
        s = self.s
        while i < len(s) and s[i] not in stop:
            c = s[i]
            if c == "\\":
                if s.startswith("\\N", i):
                    end = s.find("\\N", i + 2)
                    if end < 0:
                        raise ExpansionError("missing \\N")
                    out.append(s[i + 2:end])
                    i = end + 2
                    continue
                if i + 1 < len(s):
                    out.append(s[i + 1])
                i += 2
                continue
            if c == "$":
                value, i = self._dollar(i + 1)
                out.append(value)
                continue
            out.append(c)
            i += 1
        return "".join(out), i

    def _variable(self, name: str) -> str:
        value = self.ctx.variables.get(name, _MISSING)
        self.ctx.consulted += 1
        if self.reads is not None and not (self.bound and name == "value"):
            self.reads.append((name, value))
        if value is _MISSING:
            raise Undecidable(f"${name} is not known offline")
        return value  # type: ignore[return-value]

    def _dollar(self, i: int) -> tuple[str, int]:
        s = self.s
        if i >= len(s) or (s[i] != "{" and s[i].lower() not in _NAME_CHARS):
            raise ExpansionError("a variable name is missing after $")
        if s[i] != "{":
            j = i
            while j < len(s) and s[j].lower() in _NAME_CHARS:
                j += 1
            return self._variable(s[i:j]), j
        j = i + 1
        while j < len(s) and s[j].lower() in _NAME_CHARS:
            j += 1
        name = s[i + 1:j]
        if j < len(s) and s[j] == "}":
            return self._variable(name), j + 1
        if name == "if":
            return self._if(j)
        if name == "lookup":
            return self._lookup(j)
        if name in ("env", "run", "readsocket", "readfile", "dlfunc", "perl", "acl", "prvscheck"):
            raise Undecidable(f"${{{name} ...}} is not evaluated offline")
        if j < len(s) and s[j] == ":":  # ${lc:...}, ${uc:...}, ${eval:...}
            value, k = self.run(j + 1, "}")
            if name in ("lc", "uc"):
                return (value.lower() if name == "lc" else value.upper()), k + 1
            if name in ("eval", "eval10"):
                return str(_arithmetic(value)), k + 1
            raise Undecidable(f"${{{name}:...}} is not evaluated offline")
        raise Undecidable(f"${{{name} ...}} is not evaluated offline")

    def _lookup(self, i: int) -> tuple[str, int]:
        """${lookup{key}lsearch{file}} with optional {found}{not found} strings; other lookups are undecidable."""
        key, i = self._braced(i)
        i = self._skip_blanks(i)
        j = i
        while j < len(self.s) and self.s[j] not in "{ ":
            j += 1
        kind = self.s[i:j]
        if kind != "lsearch":
            raise Undecidable(f"{kind} lookups are not evaluated offline")
        path, i = self._braced(j)
        lines = self.ctx.read_lines(path)
        self.read_lines = True
        if lines is None:
            raise Undecidable(f"{path} is not in the snapshot")
        index = _lsearch_index(tuple(lines))
        if index is None:
            raise Undecidable(f"{path}: a quoted key with backslash escapes (not read offline)")
        value = index.get(key.translate(_ASCII_LOWER))
        i = self._skip_blanks(i)
        if i < len(self.s) and self.s[i] == "{":
            saved = self.ctx.variables.get("value")
            self.ctx.variables["value"] = value or ""
            self.bound += 1
            try:
                yes, i = self._branch(i, value is not None)
                i = self._skip_blanks(i)
                no = ""
                if i < len(self.s) and self.s[i] == "{":
                    no, i = self._branch(i, value is None)
                elif self.s.startswith("fail", i):
                    i += 4
                    if value is None:
                        raise ForcedFail()
            finally:
                self.bound -= 1
                if saved is None:
                    self.ctx.variables.pop("value", None)
                else:
                    self.ctx.variables["value"] = saved
            result = yes if value is not None else no
        else:
            result = value or ""
        i = self._skip_blanks(i)
        if i >= len(self.s) or self.s[i] != "}":
            raise Undecidable("malformed ${lookup}")
        return result, i + 1

    def _skip_blanks(self, i: int) -> int:
        while i < len(self.s) and self.s[i].isspace():
            i += 1
        return i

    def _braced(self, i: int) -> tuple[str, int]:
        i = self._skip_blanks(i)
        if i >= len(self.s) or self.s[i] != "{":
            raise Undecidable("malformed expansion: { expected")
        value, j = self.run(i + 1, "}")
        if j >= len(self.s):
            raise Undecidable("malformed expansion: } missing")
        return value, j + 1

    def _if(self, i: int) -> tuple[str, int]:
        result, i = self._condition(i)
        i = self._skip_blanks(i)
        if i < len(self.s) and self.s[i] == "}":  # ${if cond}: "true" or empty
            return ("true" if result else ""), i + 1
        yes, i = self._branch(i, result)
        i = self._skip_blanks(i)
        no = ""
        if i < len(self.s) and self.s[i] == "{":
            no, i = self._branch(i, not result)
        elif self.s.startswith("fail", i):
            i += 4
            if not result:
                raise ForcedFail()
        i = self._skip_blanks(i)
        if i >= len(self.s) or self.s[i] != "}":
            raise Undecidable("malformed ${if}")
        return (yes if result else no), i + 1

    def _branch(self, i: int, taken: bool) -> tuple[str, int]:
        """A branch of ${if}: expanded when taken; otherwise only skipped (its content may be undecidable)."""
        if taken:
            return self._braced(i)
        i = self._skip_blanks(i)
        depth, j = 0, i
        while j < len(self.s):
            c = self.s[j]
            if c == "\\":
                j += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return "", j + 1
            j += 1
        raise Undecidable("malformed ${if}: } missing")

    def _condition(self, i: int) -> tuple[bool, int]:
        self._deeper()
        try:
            return self._one_condition(i)
        finally:
            self.depth -= 1

    def _one_condition(self, i: int) -> tuple[bool, int]:
        i = self._skip_blanks(i)
        s = self.s
        if s.startswith("!", i):
            result, i = self._condition(i + 1)
            return not result, i
        j = i
        while j < len(s) and (s[j].lower() in _NAME_CHARS or s[j] in "=<>"):
            j += 1
        name = s[i:j]
        if name == "def" and j < len(s) and s[j] == ":":
            k = j + 1
            while k < len(s) and s[k].lower() in _NAME_CHARS:
                k += 1
            var = s[j + 1:k]
            return bool(self._variable(var)), k
        if name in ("eq", "eqi", "=", "==", "!=", ">", "<", ">=", "<="):
            a, j = self._braced(j)
            b, j = self._braced(j)
            if name == "eq":
                return a == b, j
            if name == "eqi":
                return a.lower() == b.lower(), j
            try:
                x, y = int(a.strip() or 0), int(b.strip() or 0)
            except ValueError as exc:
                raise Undecidable(f"non-numeric comparison {a!r} {name} {b!r}") from exc
            return {"=": x == y, "==": x == y, "!=": x != y, ">": x > y, "<": x < y, ">=": x >= y,
                    "<=": x <= y}[name], j
        if name == "exists":
            path, j = self._braced(j)
            found = self.ctx.exists(path)
            if self.reads is not None:
                self.reads.append((("exists", path), found))
            if found is None:
                raise Undecidable(f"whether {path} exists on the host is not known")
            return found, j
        if name in ("bool", "bool_lax"):
            value, j = self._braced(j)
            result = truth(value)
            if result is None:
                raise Undecidable(f"bool{{{value}}} is not a boolean")
            return result, j
        if name in ("and", "or"):
            j = self._skip_blanks(j)
            if j >= len(s) or s[j] != "{":
                raise Undecidable(f"malformed {name}")
            j += 1
            results: list[bool] = []
            while True:
                j = self._skip_blanks(j)
                if j < len(s) and s[j] == "}":
                    j += 1
                    break
                if j >= len(s) or s[j] != "{":
                    raise Undecidable(f"malformed {name}")
                result, j = self._condition(j + 1)
                j = self._skip_blanks(j)
                if j >= len(s) or s[j] != "}":
                    raise Undecidable(f"malformed {name}")
                results.append(result)
                j += 1
            return (all(results) if name == "and" else any(results)), j
        if name == "match_ip":
            address, j = self._braced(j)
            hosts, j = self._braced(j)
            self.reads = None
            self.ctx.consulted += 1
            found = self.ctx.host_in(address, hosts)
            if found is None:
                raise Undecidable(f"match_ip{{{address}}}{{{hosts}}} is not decided offline")
            return found, j
        if name == "match":
            subject, j = self._braced(j)
            pattern, j = self._braced(j)
            try:
                return re.search(pattern, subject) is not None, j
            except re.error as exc:
                raise Undecidable(f"regex {pattern!r}: {exc}") from exc
        if name == "isip" or name == "isip4" or name == "isip6":
            value, j = self._braced(j)
            try:
                addr = ipaddress.ip_address(value)
            except ValueError:
                return False, j
            return name == "isip" or (addr.version == 4) == (name == "isip4"), j
        raise Undecidable(f"the condition {name or s[i:i + 10]!r} is not evaluated offline")


def _arithmetic(text: str) -> int:
    """${eval:...}: integers with + - * / % and parentheses, C division (truncating toward zero)."""
    tokens = re.findall(r"[0-9]+|[-+*/%()]", text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise Undecidable(f"${{eval:{text}}} is not plain arithmetic")
    pos = 0
    depth = 0

    def atom() -> int:
        nonlocal pos, depth
        depth += 1
        if depth > MAX_NESTING:
            raise Undecidable(f"${{eval:...}} nested more than {MAX_NESTING} deep is not evaluated offline")
        try:
            return unary()
        finally:
            depth -= 1

    def unary() -> int:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == "-":
            pos += 1
            return -atom()
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            value = total()
            pos += 1
            return value
        if pos >= len(tokens) or not digits(tokens[pos]):
            raise Undecidable(f"${{eval:{text}}} is malformed")
        pos += 1
        return int(tokens[pos - 1])

    def product() -> int:
        nonlocal pos
        value = atom()
        while pos < len(tokens) and tokens[pos] in "*/%":
            op = tokens[pos]
            pos += 1
            right = atom()
            if op == "*":
                value *= right
            elif right == 0:
                raise Undecidable("division by zero in ${eval}")
            else:
                quotient = abs(value) // abs(right) * (1 if (value < 0) == (right < 0) else -1)
                value = quotient if op == "/" else value - quotient * right
        return value

    def total() -> int:
        nonlocal pos
        value = product()
        while pos < len(tokens) and tokens[pos] in "+-":
            op = tokens[pos]
            pos += 1
            value = value + product() if op == "+" else value - product()
        return value

    return total()


_BLANKS = " \t\n\v\f\r"  # C's isspace(): what Exim's lookup skips, nothing more
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # keys match as strncmpic


@functools.lru_cache(maxsize=64)  # the same files, looked up for every probe's key
def _lsearch_index(lines: tuple[str, ...]) -> dict[str, str] | None:
    """Each key's data, by the key in ASCII lower case; the first entry of a key is the one found. As Exim's
    lsearch reads: a line that is empty, a comment or indented starts no entry; a key is quoted or ends at a
    colon or a blank; the data follows the blanks and one optional colon; each indented line right after it adds
    a blank and its text (Exim 4.96: an empty or comment line ends the data, as any other line does). None for
    a file with a quoted key holding a backslash: Exim reads escapes there, which are not worked out here."""
    index: dict[str, str] = {}
    entry: tuple[str, list[str]] | None = None  # the key being read and its data, while indented lines continue it
    for raw in (*lines, "end"):  # a line that starts no continuation ends the last entry
        line = raw.rstrip(_BLANKS)
        if entry is not None:
            if line and line[0] in _BLANKS:
                entry[1].append(" " + line.lstrip(_BLANKS))
                continue
            index.setdefault(entry[0], "".join(entry[1]))
            entry = None
        if not line or line[0] == "#" or line[0] in _BLANKS:
            continue
        if line[0] == '"':
            end = line.find('"', 1)
            if "\\" in line[:end if end > 0 else len(line)]:
                return None
            name, rest = (line[1:end], line[end + 1:]) if end > 0 else (line[1:], "")
        else:
            end = next((i for i, c in enumerate(line) if c == ":" or c in _BLANKS), len(line))
            name, rest = line[:end], line[end:]
        rest = rest.lstrip(_BLANKS)
        if rest[:1] == ":":
            rest = rest[1:].lstrip(_BLANKS)
        entry = (name.translate(_ASCII_LOWER), [rest])
    return index
