"""Streaming CSV reading for police.uk files: raw bytes in, clean blocks out.

Private to :mod:`hotspots.ingest`. A file is read in chunks of a few MiB, so memory
does not grow with the file, and whatever a user's file holds is turned into one
of two things:

* **blocks** of complete records, UTF-8 with ``\\n`` endings, with the physical
  line each record starts on, for pyarrow's CSV parser;
* **bad records**, each with its line and a reason, for the quarantine.

Steps (each fed chunk by chunk):

1. :class:`TextNormaliser` — encoding and line endings. The encoding is decided
   per file: UTF-8 (with or without a byte-order mark) when every byte sequence is
   valid UTF-8, else Windows-1252, else Latin-1 (which accepts any byte). A chunk
   that is not valid in the encoding being tried raises :class:`Restart` and the
   caller reads the file again with the next one. ``\\r\\n`` and a bare ``\\r``
   become ``\\n``.
2. :class:`RecordScanner` — records. A record ends at a line break outside quotes.
   Quote parity is computed with numpy over the whole chunk; only *structural*
   quotes count (next to a comma, a line break or another quote), since a quote
   inside an unquoted value is literal for pyarrow and Python's csv alike.
   A record may span several lines only when it is a proper quoted value: it must
   parse to exactly the header's number of fields, within ``max_lines`` lines and
   ``max_row_bytes``. Otherwise its first line is judged alone — kept when it is a
   row by itself, else quarantined as ``unclosed_quote`` — and reading resumes on
   the next line, so an unclosed quote never swallows the rest of the file.
   A line longer than ``max_row_bytes`` is quarantined as ``oversized_row`` and
   skipped without being held in memory (a 200 MB field costs one chunk).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHUNK_BYTES",
    "ENCODINGS",
    "MAX_LINES_PER_ROW",
    "MAX_ROW_BYTES",
    "BadRecord",
    "Block",
    "FileProblem",
    "RecordScanner",
    "Restart",
    "TextNormaliser",
    "excerpt",
    "looks_binary",
    "parse_record",
]

#: Bytes read from a file at a time (decompressed).
CHUNK_BYTES = 4 << 20
#: A row (or one physical line) longer than this is quarantined as ``oversized_row``.
MAX_ROW_BYTES = 256 << 10
#: A quoted value may hold line breaks; a record over this many lines is a broken quote.
MAX_LINES_PER_ROW = 8
#: The encodings tried, in order.
ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252", "latin-1")
#: Characters of a bad record kept in the quarantine.
RAW_KEEP = 1000

_NL, _QUOTE, _COMMA, _CR = 10, 34, 44, 13
#: Bytes of an unfinished line the cp1252 reader holds for its next chunk at most.
_CARRY_MAX = 4 * MAX_ROW_BYTES
_BOM = b"\xef\xbb\xbf"


class FileProblem(Exception):
    """A whole file cannot be ingested (``reason``, ``detail``)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class Restart(Exception):
    """The file is not in the encoding tried: read it again as ``encoding``."""

    def __init__(self, encoding: str):
        super().__init__(encoding)
        self.encoding = encoding


@dataclass(frozen=True)
class Block:
    """Complete records: ``data[offsets[i]:offsets[i+1]]`` is record ``i`` with its
    ``\\n``; it starts on physical line ``lines[i]``. Blank lines may sit between
    records (pyarrow skips them too)."""

    data: bytes
    offsets: np.ndarray
    lines: np.ndarray
    multiline: bool

    @property
    def n(self) -> int:
        return len(self.lines)

    def record(self, i: int) -> bytes:
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    def drop_first(self) -> Block:
        """The block without its first record."""
        cut = int(self.offsets[1])
        return Block(self.data[cut:], self.offsets[1:] - cut, self.lines[1:],
                     self.multiline)


@dataclass(frozen=True)
class BadRecord:
    """A record set aside by the scanner, starting on ``line``."""

    line: int
    reason: str
    detail: str
    raw: str


def looks_binary(head: bytes) -> bool:
    """True for a file whose start no text CSV has: a NUL in its first line or
    first 64 bytes (zip, gzip, UTF-16, images), or a first line of many control
    characters. Damage further on (a NUL, a zeroed sector) is the damaged rows'
    (quarantined as ``nul_byte``), not the file's.

    Examples
    --------
    >>> looks_binary(b"Crime ID,Month\\n"), looks_binary(b"PK\\x03\\x04\\x00\\x00")
    (False, True)
    >>> header = b"Crime ID,Month,Reported by,Falls within,Longitude,Latitude\\n"
    >>> looks_binary(header + b"x,2022-06,A\\x00B\\n" + b"\\x00" * 4096)
    False
    """
    first = head.split(b"\n", 1)[0]
    if b"\x00" in first or b"\x00" in head[:64]:  # magic numbers hold NULs early
        return True
    if not first:
        return False
    arr = np.frombuffer(first, np.uint8)
    control = (arr < 32) & (arr != 9) & (arr != 10) & (arr != 12) & (arr != 13)
    return bool(control.mean() > 0.01)


def parse_record(text: str) -> list[str] | None:
    """The fields of one CSV record (None unless it is exactly one record).

    Examples
    --------
    >>> parse_record('a,"b\\nc",d')
    ['a', 'b\\nc', 'd']
    >>> parse_record('1,Road",3')
    ['1', 'Road"', '3']
    """
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


class TextNormaliser:
    """Bytes of one encoding in, UTF-8 with ``\\n`` line endings out.

    Parameters
    ----------
    encoding : str
        ``utf-8`` (a leading byte-order mark is dropped and recorded as
        ``utf-8-sig``), ``cp1252`` (line by line: a line that is valid UTF-8 is
        kept as UTF-8, a line with a byte cp1252 lacks is read as Latin-1, and
        a file of several is recorded as e.g. ``utf-8 and cp1252``) or
        ``latin-1``.
    """

    def __init__(self, encoding: str = "utf-8"):
        self.encoding = encoding
        self.found = encoding
        self._first = True
        self._cr_carry = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.crlf = self.cr = self.lf = 0
        self._lf_seen = False
        self._line_carry = b""  # cp1252: the part line of the last chunk
        self._utf8_lines = self._cp1252_lines = self._latin1_lines = 0

    def feed(self, raw: bytes) -> bytes:
        if self._first:
            self._first = False
            if raw.startswith(_BOM):
                raw = raw[3:]
                self.found = "utf-8-sig" if self.encoding == "utf-8" else self.found
        if self.encoding == "utf-8":
            if not raw.isascii():
                try:
                    self._utf8.decode(raw)
                except UnicodeDecodeError:
                    raise Restart("cp1252") from None
        elif self.encoding == "cp1252":
            raw = self._by_line(raw)
        elif not raw.isascii():
            raw = raw.decode(self.encoding).encode("utf-8")  # latin-1: any byte
        return self._endings(raw)

    def _by_line(self, raw: bytes, final: bool = False) -> bytes:
        """cp1252, line by line: a line that is valid UTF-8 stays as it is (a
        UTF-8 file a spreadsheet added cp1252 lines to reads right)."""
        data = self._line_carry + raw
        cut = len(data) if final else max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        if not cut and len(data) > _CARRY_MAX:
            # a line longer than any row (the scanner sets it aside as oversized):
            # passed on in pieces, not carried and joined again chunk by chunk
            cut = len(data)
        head, self._line_carry = data[:cut], data[cut:]
        if head.isascii():
            return head
        out = []
        for line in head.splitlines(keepends=True):
            if line.isascii():
                out.append(line)
                continue
            try:
                line.decode("utf-8")
                self._utf8_lines += 1
                out.append(line)
            except UnicodeDecodeError:
                try:
                    out.append(line.decode("cp1252").encode("utf-8"))
                    self._cp1252_lines += 1
                except UnicodeDecodeError:  # a byte cp1252 lacks: this line only
                    out.append(line.decode("latin-1").encode("utf-8"))
                    self._latin1_lines += 1
        seen = [name for name, n in (("utf-8", self._utf8_lines),
                                     ("cp1252", self._cp1252_lines),
                                     ("latin-1", self._latin1_lines)) if n]
        if len(seen) > 1 or seen == ["latin-1"]:
            self.found = (seen[0] if len(seen) == 1 else
                          ", ".join(seen[:-1]) + " and " + seen[-1])
        return b"".join(out)

    def close(self) -> bytes:
        if self.encoding == "utf-8":
            try:
                self._utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                raise Restart("cp1252") from None
        tail = b""
        if self.encoding == "cp1252" and self._line_carry:
            tail = self._endings(self._by_line(b"", final=True))
        if self._cr_carry:
            self._cr_carry = False
            self.cr += 1
            return tail + b"\n"
        return tail

    def _endings(self, b: bytes) -> bytes:
        if self._cr_carry:
            b = b"\r" + b
            self._cr_carry = False
        if b"\r" not in b:
            self._lf_seen = self._lf_seen or b"\n" in b
            return b
        lf = b.count(b"\n")
        if b.endswith(b"\r"):
            b, self._cr_carry = b[:-1], True
        crlf = b.count(b"\r\n")
        self.crlf += crlf
        self.cr += b.count(b"\r") - crlf
        self.lf += lf - crlf
        return b.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    @property
    def line_endings(self) -> str:
        """``LF``, ``CRLF``, ``CR``, ``mixed`` or ``none``."""
        kinds = [name for name, n in (("LF", self.lf or self._lf_seen),
                                      ("CRLF", self.crlf), ("CR", self.cr)) if n]
        return kinds[0] if len(kinds) == 1 else ("mixed" if kinds else "none")


class RecordScanner:
    """Split UTF-8, ``\\n``-ended text into records, chunk by chunk.

    Parameters
    ----------
    n_fields : int
        Fields per record (the header's): a multi-line record must have exactly
        this many to be one.
    max_row_bytes, max_lines : int
        Limits of one record.

    :meth:`feed` returns, in file order, :class:`Block` and :class:`BadRecord`
    items; ``final=True`` with the last data ends the file.
    """

    def __init__(self, n_fields: int, max_row_bytes: int = MAX_ROW_BYTES,
                 max_lines: int = MAX_LINES_PER_ROW):
        self.n_fields = n_fields
        self.max_row_bytes = int(max_row_bytes)
        self.max_lines = int(max_lines)
        self.line = 1  # physical line of the first byte not yet returned
        self._carry = b""
        self._skip: dict | None = None
        self._out: list = []

    # -- driving -----------------------------------------------------------------
    def feed(self, data: bytes, final: bool = False) -> list:
        self._out = []
        if self._skip is not None:
            data = self._skipping(data, final)
        if self._skip is None:
            buf = self._carry + data if self._carry else data
            self._carry = b""
            if final and buf and not buf.endswith(b"\n"):
                buf += b"\n"
            if buf:
                self._scan(buf, final)
        out, self._out = self._out, []
        return out

    def _skipping(self, data: bytes, final: bool) -> bytes:
        """Skip the rest of an oversized line; return what follows it."""
        cut = data.find(b"\n")
        if cut < 0:
            self._skip["bytes"] += len(data)
            if final:
                self._end_skip()
            return b""
        self._skip["bytes"] += cut
        self._end_skip()
        return data[cut + 1:]

    def _end_skip(self) -> None:
        s, self._skip = self._skip, None
        self._bad(s["line"], "oversized_row",
                  f"a line of {s['bytes']:,} bytes; rows are limited to "
                  f"{self.max_row_bytes:,}", s["raw"])
        self.line = s["line"] + 1

    # -- one buffer --------------------------------------------------------------
    def _scan(self, buf: bytes, final: bool) -> None:
        arr = np.frombuffer(buf, np.uint8)
        nl = np.flatnonzero(arr == _NL)
        n = len(nl)
        starts_nl = np.empty(n + 1, np.int64)  # where line k starts, in bytes
        starts_nl[0] = 0
        starts_nl[1:] = nl + 1
        par = self._parity(arr, nl)
        runs: list[tuple] = []  # ("ok", first lines, last lines, multi) or ("bad", …)
        i, p = 0, 0
        while i < n:
            js = np.arange(i, n) if par is None else self._terminators(par, i, p)
            if len(js) == 0:
                s = int(starts_nl[i])
                if final or len(buf) - s > self.max_row_bytes or n - i > self.max_lines:
                    i, p = self._resync(buf, starts_nl, nl, par, i, runs)
                    continue
                break
            prev_end = np.empty(len(js), np.int64)
            prev_end[0] = i - 1
            prev_end[1:] = js[:-1]
            spans = js - prev_end
            multi = np.flatnonzero(spans > 1)
            upto = len(js) if not len(multi) else int(multi[0])
            if upto:
                runs.append(("ok", prev_end[:upto] + 1, js[:upto], False))
            if not len(multi):
                i = int(js[-1]) + 1
                continue
            a, b = int(prev_end[upto]) + 1, int(js[upto])
            s, e = int(starts_nl[a]), int(nl[b])
            text = buf[s:e].decode("utf-8", "replace")
            if (b - a + 1 <= self.max_lines and e - s <= self.max_row_bytes
                    and _n_fields(text) == self.n_fields
                    and not self._rows_inside(text)):
                runs.append(("ok", np.array([a]), np.array([b]), True))
                i = b + 1
                continue
            i, p = self._resync(buf, starts_nl, nl, par, a, runs)
        # what follows the last complete record waits for the next chunk
        rest = int(starts_nl[i])
        self._emit(buf, starts_nl, nl, runs)
        self.line += i
        tail = buf[rest:]
        if len(tail) > self.max_row_bytes:  # no line break: an oversized line
            self._skip = {"line": self.line, "bytes": len(tail),
                          "raw": excerpt(tail[:RAW_KEEP * 4])}
            if final:
                self._end_skip()
        else:
            self._carry = tail

    def _rows_inside(self, text: str) -> bool:
        r"""Whether a record spanning lines holds, after its first line, a line
        that is a whole row by itself, or ends its value spanning lines with a
        quote that text follows (``"…\n…,"On or near X,…``: another line's
        opening quote): then its first line opened a quote it never closed, and a
        quote further down only seemed to close it (a value with a line break
        holds no whole rows, and its closing quote ends the field)."""
        return _closed_into_text(text) or any(_n_fields(line) == self.n_fields
                                              for line in text.split("\n")[1:])

    @staticmethod
    def _parity(arr: np.ndarray, nl: np.ndarray) -> np.ndarray | None:
        """Parity of the structural quotes before each line break (None: no quotes)."""
        q = np.flatnonzero(arr == _QUOTE)
        if not len(q):
            return None
        last = len(arr) - 1
        prev = arr[np.maximum(q - 1, 0)]
        prev[q == 0] = _NL
        nxt = arr[np.minimum(q + 1, last)]
        nxt[q == last] = _NL
        structural = (np.isin(prev, (_COMMA, _NL, _QUOTE))
                      | np.isin(nxt, (_COMMA, _NL, _QUOTE, _CR)))
        return (np.searchsorted(q[structural], nl) & 1).astype(np.int8)

    @staticmethod
    def _terminators(par: np.ndarray, i: int, p: int) -> np.ndarray:
        """Line breaks from ``i`` on that end a record begun with parity ``p``."""
        n, width = len(par), 256
        while True:
            seg = par[i:i + width]
            hits = np.flatnonzero(seg == p)
            if len(hits) or i + width >= n:
                return i + hits
            width *= 8

    def _resync(self, buf, starts_nl, nl, par, a, runs) -> tuple[int, int]:
        """Judge line ``a`` alone; resume reading at line ``a + 1``."""
        s, e = int(starts_nl[a]), int(nl[a])
        text = buf[s:e].decode("utf-8", "replace")
        # a quote this line opens and never closes (in the last field, Python's
        # csv module would read the line as whole all the same); quotes inside
        # an unquoted value (On or near "The Mall") are text, as pyarrow reads them
        unclosed = par is not None and ends_in_open_quote(text)
        if e - s > self.max_row_bytes:
            runs.append(("bad", a, "oversized_row",
                         f"a line of {e - s:,} bytes; rows are limited to "
                         f"{self.max_row_bytes:,}", text))
        elif not unclosed and _n_fields(text) == self.n_fields:
            runs.append(("ok", np.array([a]), np.array([a]), False))
        else:
            runs.append(("bad", a, "unclosed_quote",
                         "a quote opened on this line is not closed; the line is "
                         "set aside and reading resumes on the next line", text))
        return a + 1, (int(par[a]) if par is not None else 0)

    def _emit(self, buf: bytes, starts_nl, nl, runs) -> None:
        """Turn runs of records into Blocks and BadRecords.

        The good records of a buffer make one Block, whatever bad lines sit
        between them (a file of many broken lines would otherwise be read a row at
        a time); each bad record follows the Block that holds the records before
        it, so the file's first record, good or bad, always comes first."""
        firsts, lasts, multi, bad = [], [], False, []
        for run in runs:
            if run[0] == "bad":
                _, a, reason, detail, text = run
                if firsts:
                    bad.append((self.line + a, reason, detail, text))
                else:
                    self._bad(self.line + a, reason, detail, text)
                continue
            _, f, last, m = run
            firsts.append(f)
            lasts.append(last)
            multi = multi or m
        self._flush(buf, starts_nl, nl, firsts, lasts, multi)
        for args in bad:
            self._bad(*args)

    def _flush(self, buf, starts_nl, nl, firsts, lasts, multi) -> None:
        """One Block of records (oversized ones set aside, blank skipped); records
        apart in the buffer are joined into one piece of text."""
        if not firsts:
            return
        f = np.concatenate(firsts)
        last = np.concatenate(lasts)
        s = starts_nl[f]
        e = nl[last] + 1
        length = e - s - 1
        big = np.flatnonzero(length > self.max_row_bytes)
        keep = length > 0
        if len(big):
            keep[big] = False
        # oversized records split the run: emit the pieces around them in order
        cuts = [-1, *big.tolist(), len(f)]
        for k in range(len(cuts) - 1):
            lo, hi = cuts[k] + 1, cuts[k + 1]
            if hi > lo:
                sel = np.flatnonzero(keep[lo:hi]) + lo
                if len(sel):
                    data, starts = _joined(buf, s[lo:hi], e[lo:hi])
                    offs = np.empty(len(sel) + 1, np.int64)
                    offs[:-1] = starts[sel - lo]
                    offs[-1] = starts[sel[-1] - lo] + (e[sel[-1]] - s[sel[-1]])
                    self._out.append(Block(data, offs, self.line + f[sel], multi))
            if hi < len(f):
                j = hi
                b0 = int(s[j])
                self._bad(self.line + int(f[j]), "oversized_row",
                          f"a row of {int(length[j]):,} bytes; rows are limited to "
                          f"{self.max_row_bytes:,}",
                          buf[b0:min(int(e[j]), b0 + RAW_KEEP * 4)])

    def _bad(self, line: int, reason: str, detail: str, raw) -> None:
        self._out.append(BadRecord(int(line), reason, detail, excerpt(raw)))


def ends_in_open_quote(text: str) -> bool:
    """Whether a quoted field of ``text`` is still open at its end. A quote
    opens a field only at the field's start; elsewhere it is text.

    Examples
    --------
    >>> ends_in_open_quote('a,"b, c",d'), ends_in_open_quote('a,On or near "X",d')
    (False, False)
    >>> ends_in_open_quote('a,"b ""q"" c'), ends_in_open_quote('a,b,"open')
    (True, True)
    """
    state = 0  # 0 field start, 1 unquoted, 2 quoted, 3 quote inside quoted
    for ch in text:
        if state == 2:
            state = 3 if ch == '"' else 2
        elif state == 3:  # "" is a quote; anything else ends the quoted part
            state = 2 if ch == '"' else (0 if ch == "," else 1)
        elif ch == ",":
            state = 0
        elif state == 0 and ch == '"':
            state = 2
        else:
            state = 1
    return state == 2


def _joined(buf: bytes, s: np.ndarray, e: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The bytes of records ``buf[s[i]:e[i]]`` (in order) as one piece, with
    where each starts in it: one slice where they follow each other (blank lines
    between them kept), joined slices where bad lines sat between them."""
    gap = np.flatnonzero(s[1:] != e[:-1]) + 1
    # blank lines between records are not a gap: only lines that were not read
    if not len(gap) or np.all(np.frombuffer(buf, np.uint8)[
            _spans(e[gap - 1], s[gap])] == _NL):
        return buf[int(s[0]):int(e[-1])], s - s[0]
    first = np.r_[0, gap]
    end = np.r_[gap, len(s)] - 1
    seg_len = e[end] - s[first]
    shift = s[first] - np.r_[0, np.cumsum(seg_len)[:-1]]
    data = b"".join(buf[int(a):int(b)] for a, b in zip(s[first], e[end], strict=True))
    return data, s - np.repeat(shift, end - first + 1)


def _spans(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Every index in the half-open ranges ``[a[i], b[i])``."""
    n = b - a
    if not n.sum():
        return np.empty(0, np.int64)
    return np.repeat(a - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(n.sum())


def _closed_into_text(text: str) -> bool:
    r"""Whether a quoted value spanning a line break ends in a quote followed by
    more of the field (not a comma, a line break or the end).

    Examples
    --------
    >>> _closed_into_text('a,"b\nc",d'), _closed_into_text('a,"b\nc,"d,e')
    (False, True)
    >>> _closed_into_text('a,"b"x,c')  # no line break inside: not this case
    False
    """
    state, spanned = 0, False  # states as in ends_in_open_quote
    for ch in text:
        if state == 2:
            spanned |= ch == "\n"
            state = 3 if ch == '"' else 2
        elif state == 3:
            if ch == '"':
                state = 2
            elif ch in ",\r\n":
                state, spanned = (0 if ch == "," else 1), False
            elif spanned:
                return True
            else:
                state = 1
        elif ch == ",":
            state = 0
        elif state == 0 and ch == '"':
            state, spanned = 2, False
        else:
            state = 1
    return False


def _n_fields(text: str) -> int:
    fields = parse_record(text)
    return -1 if fields is None else len(fields)


def excerpt(raw) -> str:
    """A bad record's text for the quarantine, cut to :data:`RAW_KEEP` characters."""
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8", "replace")
    raw = raw.rstrip("\n")
    return raw if len(raw) <= RAW_KEEP else raw[:RAW_KEEP] + "…"
