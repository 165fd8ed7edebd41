"""Readers for installed SWORD modules (Debian sword-text-*, sword-dict-*), stdlib only.

zText (Bibles): per testament a .bzs block index (12-byte records: offset, compressed
size, uncompressed size), a .bzv verse index (10-byte records: block, offset in block,
size) and .bzz zlib blocks. Verse slots follow the module's versification, with one slot
for the testament heading, one per book intro and one per chapter intro. zLD (lexicons):
.idx/.dat keys pointing at entries of zlib blocks listed in .zdx/.zdt.
"""
import html
import os
import re
import struct
import zlib

SWORD_ROOT = "/usr/share/sword"

# KJV versification: OSIS book id and verses per chapter (CrossWire's canon.h data).
KJV_OT = [
    ("Gen", "31 25 24 26 32 22 24 22 29 32 32 20 18 24 21 16 27 33 38 18 34 24 20 67 34 "
            "35 46 22 35 43 55 32 20 31 29 43 36 30 23 23 57 38 34 34 28 34 31 22 33 26"),
    ("Exod", "22 25 22 31 23 30 25 32 35 29 10 51 22 31 27 36 16 27 25 26 36 31 33 18 40 "
             "37 21 43 46 38 18 35 23 35 35 38 29 31 43 38"),
    ("Lev", "17 16 17 35 19 30 38 36 24 20 47 8 59 57 33 34 16 30 37 27 24 33 44 23 55 46 34"),
    ("Num", "54 34 51 49 31 27 89 26 23 36 35 16 33 45 41 50 13 32 22 29 35 41 30 25 18 "
            "65 23 31 40 16 54 42 56 29 34 13"),
    ("Deut", "46 37 29 49 33 25 26 20 29 22 32 32 18 29 23 22 20 22 21 20 23 30 25 22 19 "
             "19 26 68 29 20 30 52 29 12"),
    ("Josh", "18 24 17 24 15 27 26 35 27 43 23 24 33 15 63 10 18 28 51 9 45 34 16 33"),
    ("Judg", "36 23 31 24 31 40 25 35 57 18 40 15 25 20 20 31 13 31 30 48 25"),
    ("Ruth", "22 23 18 22"),
    ("1Sam", "28 36 21 22 12 21 17 22 27 27 15 25 23 52 35 23 58 30 24 42 15 23 29 22 44 "
             "25 12 25 11 31 13"),
    ("2Sam", "27 32 39 12 25 23 29 18 13 19 27 31 39 33 37 23 29 33 43 26 22 51 39 25"),
    ("1Kgs", "53 46 28 34 18 38 51 66 28 29 43 33 34 31 34 34 24 46 21 43 29 53"),
    ("2Kgs", "18 25 27 44 27 33 20 29 37 36 21 21 25 29 38 20 41 37 37 21 26 20 37 20 30"),
    ("1Chr", "54 55 24 43 26 81 40 40 44 14 47 40 14 17 29 43 27 17 19 8 30 19 32 31 31 "
             "32 34 21 30"),
    ("2Chr", "17 18 17 22 14 42 22 18 31 19 23 16 22 15 19 14 19 34 11 37 20 12 21 27 28 "
             "23 9 27 36 27 21 33 25 33 27 23"),
    ("Ezra", "11 70 13 24 17 22 28 36 15 44"),
    ("Neh", "11 20 32 23 19 19 73 18 38 39 36 47 31"),
    ("Esth", "22 23 15 17 14 14 10 17 32 3"),
    ("Job", "22 13 26 21 27 30 21 22 35 22 20 25 28 22 35 22 16 21 29 29 34 30 17 25 6 "
            "14 23 28 25 31 40 22 33 37 16 33 24 41 30 24 34 17"),
    ("Ps", "6 12 8 8 12 10 17 9 20 18 7 8 6 7 5 11 15 50 14 9 13 31 6 10 22 12 14 9 11 12 "
           "24 11 22 22 28 12 40 22 13 17 13 11 5 26 17 11 9 14 20 23 19 9 6 7 23 13 11 11 "
           "17 12 8 12 11 10 13 20 7 35 36 5 24 20 28 23 10 12 20 72 13 19 16 8 18 12 13 17 "
           "7 18 52 17 16 15 5 23 11 13 12 9 9 5 8 28 22 35 45 48 43 13 31 7 10 10 9 8 18 "
           "19 2 29 176 7 8 9 4 8 5 6 5 6 8 8 3 18 3 3 21 26 9 8 24 13 10 7 12 15 21 10 20 "
           "14 9 6"),
    ("Prov", "33 22 35 27 23 35 27 36 18 32 31 28 25 35 33 33 28 24 29 30 31 29 35 34 28 "
             "28 27 28 27 33 31"),
    ("Eccl", "18 26 22 16 20 12 29 17 18 20 10 14"),
    ("Song", "17 17 11 16 16 13 13 14"),
    ("Isa", "31 22 26 6 30 13 25 22 21 34 16 6 22 32 9 14 14 7 25 6 17 25 18 23 12 21 13 "
            "29 24 33 9 20 24 17 10 22 38 22 8 31 29 25 28 28 25 13 15 22 26 11 23 15 12 17 "
            "13 12 21 14 21 22 11 12 19 12 25 24"),
    ("Jer", "19 37 25 31 31 30 34 22 26 25 23 17 27 22 21 21 27 23 15 18 14 30 40 10 38 "
            "24 22 17 32 24 40 44 26 22 19 32 21 28 18 16 18 22 13 30 5 28 7 47 39 46 64 34"),
    ("Lam", "22 22 66 22 22"),
    ("Ezek", "28 10 27 17 17 14 27 18 11 22 25 28 23 23 8 63 24 32 14 49 32 31 49 27 17 "
             "21 36 26 21 26 18 32 33 31 15 38 28 23 29 49 26 20 27 31 25 24 23 35"),
    ("Dan", "21 49 30 37 31 28 28 27 27 21 45 13"),
    ("Hos", "11 23 5 19 15 11 16 14 17 15 12 14 16 9"),
    ("Joel", "20 32 21"),
    ("Amos", "15 16 15 13 27 14 17 14 15"),
    ("Obad", "21"),
    ("Jonah", "17 10 10 11"),
    ("Mic", "16 13 12 13 15 16 20"),
    ("Nah", "15 13 19"),
    ("Hab", "17 20 19"),
    ("Zeph", "18 15 20"),
    ("Hag", "15 23"),
    ("Zech", "21 13 10 14 11 15 14 23 17 12 17 14 9 21"),
    ("Mal", "14 17 18 6"),
]
KJV_NT = [
    ("Matt", "25 23 17 25 48 34 29 34 38 42 30 50 58 36 39 28 27 35 30 34 46 46 39 51 46 "
             "75 66 20"),
    ("Mark", "45 28 35 41 43 56 37 38 50 52 33 44 37 72 47 20"),
    ("Luke", "80 52 38 44 39 49 50 56 62 42 54 59 35 35 32 31 37 43 48 47 38 71 56 53"),
    ("John", "51 25 36 54 47 71 53 59 41 42 57 50 38 31 27 33 26 40 42 31 25"),
    ("Acts", "26 47 26 37 42 15 60 40 43 48 30 25 52 28 41 40 34 28 41 38 40 30 35 27 27 "
             "32 44 31"),
    ("Rom", "32 29 31 25 21 23 25 39 33 21 36 21 14 23 33 27"),
    ("1Cor", "31 16 23 21 13 20 40 13 27 33 34 31 13 40 58 24"),
    ("2Cor", "24 17 18 18 21 18 16 24 15 18 33 21 14"),
    ("Gal", "24 21 29 31 26 18"),
    ("Eph", "23 22 21 32 33 24"),
    ("Phil", "30 30 21 23"),
    ("Col", "29 23 25 18"),
    ("1Thess", "10 20 13 18 28"),
    ("2Thess", "12 17 18"),
    ("1Tim", "20 15 16 16 25 21"),
    ("2Tim", "18 26 17 22"),
    ("Titus", "16 15 15"),
    ("Phlm", "25"),
    ("Heb", "14 18 19 16 14 20 28 13 28 39 40 29 25"),
    ("Jas", "27 26 18 17 20"),
    ("1Pet", "25 25 22 19 14"),
    ("2Pet", "21 22 18"),
    ("1John", "10 29 24 21 21"),
    ("2John", "13"),
    ("3John", "14"),
    ("Jude", "25"),
    ("Rev", "20 29 22 11 14 17 17 13 21 11 19 17 18 20 8 21 18 24 21 15 27 21"),
]
# NRSVA (the WEB module's versification) numbers the protocanonical OT like KJV and
# appends the deuterocanon after Malachi (so OT offsets of Gen..Mal are unchanged); in the
# NT it differs only in these chapters.
NRSVA_NT_CHANGES = {("3John", 1): 15, ("Rev", 12): 18}

SUPPORTED_V11N = ("KJV", "NRSVA")


def _parse_books(table, changes):
    books = []
    for osis, counts in table:
        verses = [int(x) for x in counts.split()]
        for (b, ch), n in changes.items():
            if b == osis:
                verses[ch - 1] = n
        books.append((osis, verses))
    return books


class Versification:
    """Maps (book, chapter, verse) to a zText slot index, per testament.

    Slot layout per testament: 0 unused, 1 testament heading, then for each book one
    intro slot followed, per chapter, by one chapter-intro slot and the verse slots.
    """

    def __init__(self, name="KJV"):
        if name not in SUPPORTED_V11N:
            raise ValueError("unsupported versification %r" % name)
        changes = NRSVA_NT_CHANGES if name == "NRSVA" else {}
        self.name = name
        self.testaments = {"ot": _parse_books(KJV_OT, changes),
                           "nt": _parse_books(KJV_NT, changes)}
        self.book_testament = {}
        self.chapter_start = {}  # (book, ch) -> slot of the chapter intro
        self.verse_counts = {}   # book -> [verses per chapter]
        self.book_order = []
        self._end = {}
        for t, books in self.testaments.items():
            slot = 2
            for osis, verses in books:
                self.book_testament[osis] = t
                self.verse_counts[osis] = verses
                self.book_order.append(osis)
                slot += 1  # book intro
                for ch, n in enumerate(verses, 1):
                    self.chapter_start[(osis, ch)] = slot
                    slot += 1 + n
            self._end[t] = slot

    def slot_count(self, testament):
        """Number of slots the testament's protocanonical books occupy (incl. headings)."""
        return self._end[testament]

    def index(self, book, chapter, verse=0):
        """Slot of a verse (verse 0 = chapter intro); raises KeyError when out of range."""
        counts = self.verse_counts[book]
        if not 1 <= chapter <= len(counts) or not 0 <= verse <= counts[chapter - 1]:
            raise KeyError("%s.%d.%d" % (book, chapter, verse))
        return self.chapter_start[(book, chapter)] + verse

    def verses(self, book=None):
        """Yield (book, chapter, verse) in canonical order (one book, or all)."""
        for b in ([book] if book else self.book_order):
            for ch, n in enumerate(self.verse_counts[b], 1):
                for v in range(1, n + 1):
                    yield b, ch, v


def read_conf(name, root=SWORD_ROOT):
    """Parse mods.d/<name>.conf (case-insensitive file name) into a dict of first values."""
    d = os.path.join(root, "mods.d")
    for fn in os.listdir(d):
        if fn.lower() == name.lower() + ".conf":
            conf = {}
            with open(os.path.join(d, fn), encoding="utf-8", errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if line.startswith("[") and line.endswith("]"):
                        conf["__name__"] = line[1:-1]
                    elif "=" in line and not line.startswith("#"):
                        k, v = line.split("=", 1)
                        conf.setdefault(k.strip(), v.strip())
            return conf
    raise FileNotFoundError("no SWORD module conf %s in %s" % (name, d))


def _data_path(conf, root):
    return os.path.normpath(os.path.join(root, conf["DataPath"]))


class ZText:
    """A zText Bible module: raw slot access and verse access by reference."""

    def __init__(self, name, root=SWORD_ROOT):
        self.conf = read_conf(name, root)
        if self.conf.get("ModDrv", "").lower() != "ztext":
            raise ValueError("%s is not a zText module" % name)
        self.v11n = Versification(self.conf.get("Versification", "KJV"))
        path = _data_path(self.conf, root)
        self.files = {}
        for t in ("ot", "nt"):
            files = []
            for ext in ("bzs", "bzv", "bzz"):
                with open(os.path.join(path, "%s.%s" % (t, ext)), "rb") as f:
                    files.append(f.read())
            self.files[t] = files
        self._blocks = {}

    def slot_total(self, testament):
        return len(self.files[testament][1]) // 10

    def raw_slot(self, testament, slot):
        """Bytes of one slot ('' when empty or past the end)."""
        bzs, bzv, bzz = self.files[testament]
        if slot * 10 + 10 > len(bzv):
            return b""
        block, off, size = struct.unpack_from("<IIH", bzv, slot * 10)
        if size == 0:
            return b""
        key = (testament, block)
        data = self._blocks.get(key)
        if data is None:
            boff, bsize, _ = struct.unpack_from("<III", bzs, block * 12)
            data = zlib.decompress(bzz[boff:boff + bsize])
            self._blocks[key] = data
        return data[off:off + size]

    def raw(self, book, chapter, verse=0):
        """Marked-up text of a verse (verse 0 = chapter intro) as str."""
        t = self.v11n.book_testament[book]
        return self.raw_slot(t, self.v11n.index(book, chapter, verse)).decode("utf-8", "replace")

    def text(self, book, chapter, verse):
        """Plain text of a verse; material after the chapter's end marker (back matter that
        follows a book's last verse) is cut."""
        markup = self.raw(book, chapter, verse)
        end = markup.find("<chapter eID=")
        return osis_to_text(markup if end < 0 else markup[:end])


_DROP_ELEMENTS = re.compile(
    r"<(note|speaker|rdg)\b[^>]*?(?<!/)>.*?</\1>"
    r"|<title\b(?![^>]*canonical=\"true\")[^>]*?(?<!/)>.*?</title>", re.S)
_TAG = re.compile(r"<[^>]*>")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?\u201d\u2019)])")


def osis_to_text(markup):
    """Plain text of OSIS/TEI markup: drop notes, non-canonical headings and speaker labels,
    keep every word of the text itself, unescape entities and normalise whitespace."""
    s = _DROP_ELEMENTS.sub(" ", markup)
    s = _TAG.sub(" ", s)
    s = html.unescape(s).replace("\u00b6", " ")  # KJV paragraph signs
    s = " ".join(s.split())
    s = _SPACE_BEFORE_PUNCT.sub(r"\1", s)
    s = re.sub(r"([\u201c\u2018(])\s+", r"\1", s)
    return s


class ZLD:
    """A zLD lexicon/dictionary module: iterate (key, entry markup) in key order."""

    def __init__(self, name, root=SWORD_ROOT):
        self.conf = read_conf(name, root)
        if self.conf.get("ModDrv", "").lower() != "zld":
            raise ValueError("%s is not a zLD module" % name)
        base = _data_path(self.conf, root)
        self.parts = {}
        for ext in ("idx", "dat", "zdx", "zdt"):
            with open(base + "." + ext, "rb") as f:
                self.parts[ext] = f.read()
        self._blocks = {}

    def _block(self, n):
        data = self._blocks.get(n)
        if data is None:
            off, size = struct.unpack_from("<II", self.parts["zdx"], n * 8)
            data = zlib.decompress(self.parts["zdt"][off:off + size])
            self._blocks[n] = data
        return data

    def entries(self):
        """Yield (key, text). Link records ('@LINK key') are resolved to their target text."""
        idx, dat = self.parts["idx"], self.parts["dat"]
        raw = {}
        order = []
        for i in range(len(idx) // 8):
            off, size = struct.unpack_from("<II", idx, i * 8)
            rec = dat[off:off + size]
            nl = rec.find(b"\n")
            key = rec[:nl].rstrip(b"\r").decode("utf-8", "replace")
            rest = rec[nl + 1:]
            order.append(key)
            if len(rest) == 8:
                block, entry = struct.unpack("<II", rest)
                b = self._block(block)
                eoff, esize = struct.unpack_from("<II", b, 4 + entry * 8)
                raw[key] = b[eoff:eoff + esize].rstrip(b"\0").decode("utf-8", "replace")
            else:
                raw[key] = rest.rstrip(b"\0").decode("utf-8", "replace")
        for key in order:
            text, hops = raw[key], 0
            while text.startswith("@LINK") and hops < 8:
                text, hops = raw.get(text[5:].strip(), ""), hops + 1
            yield key, text
