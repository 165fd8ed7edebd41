"""Nave's Topical Bible over the World English Bible: a verse-retrieval evaluation set.

Corpus: every non-empty WEB verse of the 66 protocanonical books. Queries: Nave's topics
and subtopics whose topic is not just a proper name; relevant documents: the verses they
cite (osisRef ranges and whole chapters expanded, displayed book abbreviations checked).
"""
import html
import re

from sword import ZLD, ZText

WEB_MODULE = "engWEB2015eb"
NAVE_MODULE = "nave"

# Nave's displayed book abbreviations -> OSIS ids (used to check each osisRef).
NAVE_BOOKS = {
    "Ge": "Gen", "Ex": "Exod", "Le": "Lev", "Nu": "Num", "De": "Deut", "Jos": "Josh",
    "Jud": "Judg", "Ru": "Ruth", "1Sa": "1Sam", "2Sa": "2Sam", "1Ki": "1Kgs", "2Ki": "2Kgs",
    "1Ch": "1Chr", "2Ch": "2Chr", "Ezr": "Ezra", "Ne": "Neh", "Es": "Esth", "Job": "Job",
    "Ps": "Ps", "Pr": "Prov", "Ec": "Eccl", "So": "Song", "Isa": "Isa", "Jer": "Jer",
    "La": "Lam", "Eze": "Ezek", "Da": "Dan", "Ho": "Hos", "Joe": "Joel", "Am": "Amos",
    "Ob": "Obad", "Jon": "Jonah", "Mic": "Mic", "Na": "Nah", "Hab": "Hab", "Zep": "Zeph",
    "Hag": "Hag", "Zec": "Zech", "Mal": "Mal", "Mt": "Matt", "Mr": "Mark", "Lu": "Luke",
    "Joh": "John", "Ac": "Acts", "Ro": "Rom", "1Co": "1Cor", "2Co": "2Cor", "Ga": "Gal",
    "Eph": "Eph", "Php": "Phil", "Col": "Col", "1Th": "1Thess", "2Th": "2Thess",
    "1Ti": "1Tim", "2Ti": "2Tim", "Tit": "Titus", "Phm": "Phlm", "Heb": "Heb", "Jas": "Jas",
    "1Pe": "1Pet", "2Pe": "2Pet", "1Jo": "1John", "2Jo": "2John", "3Jo": "3John",
    "Jude": "Jude", "Re": "Rev",
}

# A capitalised WordNet sense whose gloss says it is a Bible person or place.
_BIBLICAL_GLOSS = re.compile(r"Old Testament|New Testament|\bBible|biblical|Apostle|Gospel|"
                             r"Israel|Hebrew|Judah|Canaan|Jesus|Saint Paul|Christian|Jewish|"
                             r"Jews|Judaism|Palestine", re.I)
# A first subtopic line that describes a person or place ("Son of Hezron", "A city of Moab",
# "A Christian at Rome", "A Levite").
_NAME_LINE = re.compile(
    r"^(?i:(?:an?\s+|the\s+)?(?:(?!of\b|see\b|called\b|to\b)[a-z]+\s+){0,2}(?:sons?|"
    r"daughters?|wife|husband|father|mother|brother|sister|grandson|descendants?|ancestor|"
    r"chief|leader|princes?|king|queen|ruler|general|governor|officer|captain|city|cities|"
    r"town|village|mountain|mount|hill|river|brook|island|station|region|district|valley|"
    r"plain|country|place|gate|pool|well|levite|priest|gadite|benjamite|christian|disciple|"
    r"believer|servant|singer|porter|chamberlain|eunuch|man|woman|widow)\b[^.;]*?\b"
    r"(?:of|at|in|on|from|near|to|by)\s+(?:the\s+)?)[A-Z][a-z]"
    r"|^(?i:(?:an?\s+)?(?:(?!see\b|called\b)[a-z]+\s+)?(?:levite|priest|gadite|benjamite|"
    r"chief|prophet|prophetess))$")
_PERSON_OR_PLACE = (15, 18)  # WordNet lexicographer files noun.location, noun.person
_STOP = {"and", "of", "the", "in", "to", "a", "an", "for", "on", "or", "with", "by", "as"}

_REF = re.compile(r'<ref\s+osisRef="([^"]+)"\s*>(.*?)</ref>', re.S)
_XREF = re.compile(r'<ref\s+target="[^"]*"\s*>(.*?)</ref>', re.S)


def build_corpus(web):
    """[(doc dict)] of non-empty WEB verses in canonical order."""
    docs = []
    for book, ch, v in web.v11n.verses():
        text = web.text(book, ch, v)
        if text:
            docs.append({"id": "%s.%d.%d" % (book, ch, v), "text": text,
                         "book": book, "chapter": ch, "verse": v})
    return docs


def expand_osis_ref(ref, v11n):
    """Verse ids of 'Gen.1.1', 'Gen.1.1-Gen.1.3', 'Gen.1', 'Gen.1-Gen.2' or cross-chapter
    ranges, in the given versification. Returns [] for anything that does not resolve."""
    parts = ref.split("-")
    if len(parts) > 2:
        return []
    start = _parse_point(parts[0], v11n, first=True)
    end = _parse_point(parts[-1], v11n, first=False)
    if start is None or end is None or start[0] != end[0]:
        return []
    book = start[0]
    out = []
    for ch, n in enumerate(v11n.verse_counts[book], 1):
        for v in range(1, n + 1):
            if (start[1], start[2]) <= (ch, v) <= (end[1], end[2]):
                out.append("%s.%d.%d" % (book, ch, v))
    return out


def _parse_point(point, v11n, first):
    p = point.split(".")
    if p[0] not in v11n.verse_counts or not 2 <= len(p) <= 3:
        return None
    try:
        ch = int(p[1])
        counts = v11n.verse_counts[p[0]]
        if not 1 <= ch <= len(counts):
            return None
        v = int(p[2]) if len(p) == 3 else (1 if first else counts[ch - 1])
    except ValueError:
        return None
    if not 1 <= v <= counts[ch - 1]:
        return None
    return p[0], ch, v


def display_book_mismatch(osis_ref, shown, last_book):
    """True when the displayed text names a book other than the osisRef's book."""
    m = re.match(r"\s*([1-3]?[A-Z][a-z]*)\s+\d", shown)
    book = NAVE_BOOKS.get(m.group(1)) if m else last_book
    return book is not None and book != osis_ref.split(".")[0]


class NameFilter:
    """Decides whether a Nave's topic is only a proper name, using WordNet."""

    def __init__(self, wordnet):
        self.wn = wordnet

    def is_proper_name(self, headword, first_line=""):
        """True for a person/place topic: a Bible name in WordNet, a headword WordNet lacks as
        a common word, or a first subtopic line that describes a person or place."""
        if _NAME_LINE.match(first_line):
            return True
        head = headword.split(",")[0].strip().lower()
        if self._biblical_name(head):
            return True
        if self.wn.is_common(head):
            return False
        words = [w for w in re.split(r"[\s]+", head) if w and w not in _STOP]
        if len(words) > 1 and any(self.wn.is_common(w) and not self._biblical_name(w)
                                  for w in words):
            return False
        return True

    def _biblical_name(self, word):
        senses = self.wn.proper.get(word, [])
        return any(s.instance and s.lexfile in _PERSON_OR_PLACE and _BIBLICAL_GLOSS.search(s.gloss)
                   for s in senses)


def pretty(s):
    """Nave's upper-case headings -> sentence case; mixed case kept."""
    s = " ".join(s.split())
    return s.lower() if s.isupper() else s


def parse_entry(markup, v11n, stats):
    """[(subtopic heading, [verse ids])] for each <lb/> line of a Nave's entry; the refs of
    <list><item> lines roll up into the line they follow."""
    body = re.sub(r"</?(entryFree|def)\b[^>]*>", "", markup)
    out = []
    for seg in body.split("<lb/>")[1:]:
        head = seg.split("<list>")[0]
        verses, last_book = [], None
        for osis_ref, shown in _REF.findall(seg):
            stats["refs"] += 1
            if display_book_mismatch(osis_ref, shown, last_book):
                stats["refs_display_mismatch"] += 1
            last_book = osis_ref.split(".")[0]
            ids = expand_osis_ref(osis_ref, v11n)
            if not ids:
                stats["refs_unresolved"] += 1
            verses.extend(ids)
        text = _XREF.sub(r"\1", _REF.sub(" ", head))
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"^\s*(\u2192|\d+\.)\s*", "", text)
        text = re.sub(r"(?:[\s,;:.\-]|\b\d+\b|\b[1-3]?[A-Z][a-z]?\b(?=\s*\d))+$", "", text)
        text = re.sub(r"\s+([,;.])", r"\1", " ".join(html.unescape(text).split()))
        out.append((pretty(text), list(dict.fromkeys(verses))))
    return out


def build(wordnet, root=None, max_relevant=0):
    """Build the Nave's set. Returns (docs, queries, qrels, stats); qrels are
    (query id, doc id) pairs restricted to documents in the corpus."""
    kw = {"root": root} if root else {}
    web = ZText(WEB_MODULE, **kw)
    docs = build_corpus(web)
    doc_ids = {d["id"] for d in docs}
    names = NameFilter(wordnet)
    stats = {k: 0 for k in ("topics", "topics_dropped_names", "topics_without_refs",
                            "refs", "refs_unresolved", "refs_display_mismatch",
                            "verses_not_in_corpus", "queries_over_max_relevant")}
    stats["dropped_name_examples"] = []
    queries, qrels = [], []
    for n, (key, markup) in enumerate(ZLD(NAVE_MODULE, **kw).entries(), 1):
        stats["topics"] += 1
        entry = parse_entry(markup, web.v11n, stats)
        if names.is_proper_name(key, entry[0][0] if entry else ""):
            stats["topics_dropped_names"] += 1
            if len(stats["dropped_name_examples"]) < 12 and n % 97 == 0:
                stats["dropped_name_examples"].append(key)
            continue
        subs = []
        for text, vs in entry:
            kept = [v for v in vs if v in doc_ids]
            stats["verses_not_in_corpus"] += len(vs) - len(kept)
            if kept:
                subs.append((text, kept))
        if not subs:
            stats["topics_without_refs"] += 1
            continue
        topic = pretty(key)
        cands = []
        if len(subs) > 1:
            allv = list(dict.fromkeys(v for _, vs in subs for v in vs))
            cands.append(("T%d" % n, topic, allv))
        for m, (text, vs) in enumerate(subs, 1):
            cands.append(("T%d.%d" % (n, m), "%s: %s" % (topic, text) if text else topic, vs))
        for qid, text, vs in cands:
            if max_relevant and len(vs) > max_relevant:
                stats["queries_over_max_relevant"] += 1
                continue
            queries.append({"id": qid, "text": text})
            qrels.extend((qid, v) for v in vs)
    return docs, queries, qrels, stats
