"""How Exim reads the address of MAIL FROM and RCPT TO (smtp_in.c, parse.c).

Exim accepts RFC 821 and RFC 822 forms: a phrase before `<...>`, comments, quoted local parts,
quoted pairs, and source routes (`<@a,@b:user@domain>`), whose route it drops: RFC 5321 lets a
server ignore it, so `RCPT TO:<@this.host:victim@elsewhere>` is a recipient at `elsewhere`.
Before the address is read, an ESMTP parameter the server does not know is put back into the
text, and for RCPT the space before it becomes `=` (the order of two writes in smtp_in.c), which
is why a reply can quote the argument changed. Replies quote the argument as Exim then holds it.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

# Runs of characters the C loops step over one at a time
_BLANKS = re.compile(r"\s*")  # isspace()
_LITERAL = re.compile(r"[.:0-9a-fA-F]*")  # a domain literal's digits, dots and colons
_LABEL = re.compile(r"[-0-9A-Za-z]*")  # a domain label (ASCII letters and digits, hyphens)
_QUOTED = re.compile(r'[^"\\]*')  # inside a quoted string, up to a quote or a backslash
_OPTION_END = re.compile(r"[\s=]")  # what ends extract_option's backward search
_ATOM = re.compile(r'[^ ()<>@,;:\\".\[\]\x7f\x00-\x1f]*')  # an atom: no special, space, DEL or control
# A plain <local@domain>: a dot-atom local part (RFC 5322 atext) and a domain of letter-or-digit-led labels,
# which the parser below reads as it is written (nothing for it to skip, strip or refuse)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"<((?:{_ATEXT}\.)*{_ATEXT}@(?:[A-Za-z0-9][-A-Za-z0-9]*\.)*[A-Za-z0-9][-A-Za-z0-9]*)>")
MAX_BRACKETS = 5  # strip_excess_angle_brackets: more nested pairs than this are an error
MAX_ADDRESS = 256  # EXIM_EMAILADDR_MAX: a longer address is refused


class Syntax(NamedTuple):
    """The main options that change what the parser accepts (a tuple: extract's cache hashes and compares it
    for every address it is asked about)."""

    domain_literals: bool = False  # allow_domain_literals
    trailing_dot: bool = False  # strip_trailing_dot
    excess_brackets: bool = False  # strip_excess_angle_brackets


class Extracted(NamedTuple):  # tuples: made for each new address, as a frozen dataclass's fields are set slowly
    """parse_extract_address's answer: the working address or why there is none."""

    address: str | None  # route dropped, quotes and backslashes kept
    error: str | None
    has_domain: bool = False


class Split(NamedTuple):
    """deliver_split_address: the domain (lower case) and the local part without its quoting."""

    local_part: str  # as written (cc_local_part); $local_part is its lower case
    domain: str


def argument(written: str) -> str:
    """The argument of MAIL FROM: or RCPT TO: for an address as a probe gives it: in angle brackets,
    unless it starts with `<` or with white space, which say it is written as the client sends it
    (so `" @a:user@b"` is a source route without brackets). Exim skips white space after the colon."""
    if written[:1] in ("<", " ", "\t"):
        return written.strip()
    return f"<{written}>"


@functools.lru_cache(maxsize=4096)
def put_back_option(data: str, rcpt: bool) -> str:
    """extract_option on the argument followed by smtp_in.c's putting back of an option it does not
    know: trailing white space goes, and for RCPT a bare last word's space becomes `=`."""
    text = data.rstrip()
    if not _OPTION_END.search(text):
        return text  # no blank or `=` for an option to start after: the loop below would go back to the start
    v = len(text) - 1
    while v > 0 and text[v] != "=" and not text[v].isspace():
        if text[v] == '"':  # a quoted local part may hold spaces
            v -= 1
            while v > 0 and text[v] != '"':
                v -= 1
            if v <= 0:
                return text
        v -= 1
    if v <= 0:
        return text
    if text[v] == "=":
        return text  # a name=value option (or none): both terminators go back where they were
    # a bare word after a space: name and value start at the same place; for RCPT the last write is
    # value[-1] = '=', for MAIL it is name[-1] = ' '
    return text[:v] + "=" + text[v + 1:] if rcpt else text


MAIL_PARAMETERS = ("SIZE", "BODY", "AUTH", "PRDR", "RET", "ENVID", "SMTPUTF8")  # env_mail_type_list


def mail_parameters(data: str) -> tuple[str, list[str]]:
    """The MAIL argument without the ESMTP parameters Exim knows at its end, and their names."""
    words = data.rstrip().split(" ")
    names: list[str] = []
    while len(words) > 1 and words[-1].partition("=")[0].upper() in MAIL_PARAMETERS:
        names.append(words.pop().partition("=")[0].upper())
    return " ".join(words), names


class _Parser:
    def __init__(self, text: str, syntax: Syntax):
        self.s = text
        self.i = 0
        self.syntax = syntax
        self.error: str | None = None
        self.comment_at = 0  # last_comment_position

    def ch(self, at: int | None = None) -> str:
        try:
            return self.s[self.i if at is None else at]
        except IndexError:
            return ""

    def _run_of(self, run: re.Pattern[str]) -> str:
        """The characters from here on that `run` matches, stepped over."""
        found = run.match(self.s, self.i)
        assert found is not None  # every run pattern matches the empty string
        self.i = found.end()
        return found[0]

    def skip_comment(self) -> None:
        self.comment_at = self.i
        while self.i < len(self.s):
            self._run_of(_BLANKS)
            if self.ch() != "(":
                break
            level = 1
            self.i += 1
            while self.i < len(self.s):
                c = self.s[self.i]
                if c == "(":
                    level += 1
                elif c == ")":
                    level -= 1
                    if level <= 0:
                        self.i += 1
                        break
                elif c == "\\" and self.i + 1 < len(self.s):
                    self.i += 1
                self.i += 1

    def domain(self, literals_anyway: bool) -> str:
        """read_domain: "" (with an error set) when there is none or it is malformed."""
        self.skip_comment()
        if self.ch() == "[":
            out = "["
            self.i += 1
            if self.s[self.i:self.i + 5].lower() in ("ipv6:", "ipv4:"):
                out += self.s[self.i:self.i + 5]
                self.i += 5
            out += self._run_of(_LITERAL)
            if self.ch() == "]":
                out += "]"
                self.i += 1
            else:
                self.error, out = "malformed domain literal", ""
            if not self.syntax.domain_literals and not literals_anyway:
                self.error, out = "domain literals not allowed", ""
            self.skip_comment()
            return out
        out = ""
        while True:
            start = len(out)
            if self.ch() != "-":
                out += self._run_of(_LABEL)
            self.skip_comment()
            if len(out) == start:  # an empty component
                if self.syntax.trailing_dot and out and self.ch() != ".":
                    return out[:-1]
                self.error = "domain missing or malformed"
                return ""
            if self.ch() != ".":
                return out
            out += "."
            self.i += 1
            self.skip_comment()

    def local_part(self, allow_null: bool) -> str:
        """read_local_part: dot-separated words, quoted strings and quoted pairs kept as written."""
        out = ""
        self.error = None
        while True:
            word_start = len(out)
            self.skip_comment()
            if self.ch() == '"':
                out += '"'
                self.i += 1
                while self.ch() and self.ch() != '"':
                    out += self._run_of(_QUOTED)
                    if self.ch() == "\\":
                        out += self.ch()
                        if self.ch(self.i + 1):
                            self.i += 1
                            out += self.ch()
                        self.i += 1
                if self.ch() != '"':
                    self.error = "unmatched doublequote in local part"
                    return out
                out += '"'
                self.i += 1
            else:
                while True:
                    out += self._run_of(_ATOM)
                    if self.ch() != "\\":
                        break
                    out += "\\" + self.ch(self.i + 1)
                    self.i += 2 if self.ch(self.i + 1) else 1
            self.skip_comment()
            if len(out) == word_start and self.ch() != ".":
                if not out and not allow_null:
                    self.error = "missing or malformed local part"
                return out
            if self.ch() != ".":
                return out
            while self.ch() == ".":
                out += "."
                self.i += 1

    def route(self) -> None:
        """read_route: `@domain,@domain:`, read and thrown away."""
        commas = False
        self.error = None
        while self.ch() == "@":
            self.i += 1
            if not self.domain(False):
                return
            if self.ch() != ",":
                break
            self.i += 1
            commas = True
            self.skip_comment()
        if self.ch() == ":":
            self.i += 1
        else:
            self.error = "colon expected after route list" if commas else "no local part"
        self.skip_comment()

    def addr_spec(self, term: str) -> tuple[str, bool]:
        """read_addr_spec: (local@domain or a bare local part, whether there is a domain)."""
        local = self.local_part(False)
        if self.error is not None or self.ch() == term:
            return local, False
        if self.ch() != "@":
            self.error = f'"@" or "." expected after "{local}"'
            return local, False
        self.i += 1
        return f"{local}@{self.domain(False)}", True


@functools.lru_cache(maxsize=4096)  # a pure function: a policy's probes repeat their addresses
def extract(mailbox: str, allow_null: bool, syntax: Syntax) -> Extracted:
    """parse_extract_address for one SMTP argument (no header groups)."""
    plain = _PLAIN.fullmatch(mailbox)
    if plain and len(plain[1]) <= MAX_ADDRESS:  # what _parse reads in it, without stepping through
        return Extracted(plain[1], None, has_domain=True)
    return _parse(mailbox, allow_null, syntax)


def _parse(mailbox: str, allow_null: bool, syntax: Syntax) -> Extracted:
    p = _Parser(mailbox, syntax)

    def failed(why: str) -> Extracted:
        return Extracted(None, why)

    p.skip_comment()
    start = p.i
    local = p.local_part(True)
    if p.error:
        return failed(p.error)
    has_domain = False
    address = local
    end = 0
    if p.ch() not in ("@", "<"):
        if not p.ch() or p.ch() == ";":
            if not local:
                return failed("empty address")
            end = p.comment_at
            return _succeeded(p, mailbox, start, end, address, False)
        while p.ch() != "<":  # a phrase before <route-addr>
            p.local_part(False)
            if p.error:
                return failed(f'{p.error} (expected word or "<")')
    if p.ch() == "<":
        brackets = 1
        p.i += 1
        if syntax.excess_brackets:
            while p.ch() == "<":
                if brackets > MAX_BRACKETS:
                    return failed("angle-brackets nested too deep")
                brackets += 1
                p.i += 1
        start = p.i
        p.skip_comment()
        routed = False
        if p.ch() == "@":
            p.route()
            if p.error:
                return failed(p.error)
            routed = True
        if allow_null and not routed and p.ch() == ">":
            address = ""
        else:
            address, has_domain = p.addr_spec(">")
            if p.error:
                return failed(p.error)
            if routed and not has_domain:
                return failed("domain missing in source-routed address")
        end = p.i
        for _ in range(brackets):
            if p.ch() != ">":
                if not p.ch():
                    return failed("'>' missing at end of address")
                return failed(f"malformed address: {p.s[p.i:p.i + 32]} may not follow {p.s[:p.i]}")
            p.i += 1
        p.skip_comment()
    elif not local:  # @route:addr-spec without angle brackets
        p.route()
        if p.error:
            return failed(p.error)
        address, has_domain = p.addr_spec("")
        if p.error:
            return failed(p.error)
        end = p.comment_at
        if not has_domain:
            return failed("domain missing in source-routed address")
    else:  # local-part@domain, where a domain literal is always allowed
        p.i += 1
        domain = p.domain(True)
        if not domain:
            return failed(p.error or "domain missing or malformed")
        address, has_domain = f"{local}@{domain}", True
        end = p.comment_at
    return _succeeded(p, mailbox, start, end, address, has_domain)


def _succeeded(p: _Parser, mailbox: str, start: int, end: int, address: str, has_domain: bool) -> Extracted:
    if p.ch():
        return Extracted(None, f"malformed address: {p.s[p.i:p.i + 32]} may not follow {mailbox[:p.i]}")
    while end > 0 and mailbox[end - 1].isspace():
        end -= 1
    if end - start > MAX_ADDRESS:
        return Extracted(None, f"address is ridiculously long: {address[:64]}...")
    return Extracted(address, None, has_domain)


@functools.lru_cache(maxsize=4096)
def split(address: str) -> Split:
    """deliver_split_address without the percent hack: the domain after the last `@`, in lower
    case; the local part with unquoted double quotes and quoting backslashes removed."""
    local, _, domain = address.rpartition("@")
    if '"' not in local and "\\" not in local:
        return Split(local, domain.lower())  # nothing to unquote
    out, i = [], 0
    while i < len(local):
        c = local[i]
        if c == "\\" and i + 1 < len(local):
            out.append(local[i + 1])
            i += 2
            continue
        if c != '"':
            out.append(c)
        i += 1
    return Split("".join(out), domain.lower())
