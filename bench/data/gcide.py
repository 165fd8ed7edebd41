"""WordNet glosses -> GCIDE entries: a one-relevant-document retrieval evaluation set.

Corpus: every entry of the installed GCIDE (Debian dict-gcide, dictd format: a text index of
headword/offset/length in dictd base64 and a dictzip = gzip body), minus text copied from
WordNet ([WordNet ...] source tags), cleaned of markup. Queries: WordNet definitions with the
synset's words removed; the relevant document is the one GCIDE entry of the chosen word.
"""
import gzip
import random
import re

DICT_DIR = "/usr/share/dictd"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

_SRC = (r"(?:1913 Webster|Webster 1913 Suppl\.?|WordNet(?:\s+[\d.]+|\s+sense\s+\d+)?|PJC\.?|"
        r"Century Dict\.(?:\s+\d+)?|RHUD|RDH|MW10|MI11|AS|GG|RP)")
_SRC_ONLY = r"%s(?:\s*\+?\s*%s)*" % (_SRC, _SRC)
# A line-final tag naming the source of the preceding text: "[1913 Webster]", "[PJC]", also
# "[... WordNet ...]" with extra words, and source-only tags missing a bracket
# ("[WordNet 1.5", "WordNet 1.5]").
_SOURCE_TAG = re.compile(
    r"(?:\[([^\[\]\n]*?\b(?:Webster|WordNet|PJC|Century|RHUD|RDH|MW10|MI11|AS|GG|RP|Suppl)\b"
    r"[^\[\]\n]*?)(?:\]\.?)?|(?<![\w\[])(%s)\]?\.?)[ \t]*(?=\n|$)" % _SRC_ONLY)
# Only source names inside the brackets: safe to remove anywhere in the text.
_SOURCE_ONLY = re.compile(r"\[\s*%s\s*\]" % _SRC_ONLY)
_HEADER = re.compile(r'\s*((?:[^\\{};\[\]()]{1,60}?\s*\\[^\\]*\\\s*(?:\([^()]*\))?\s*,?\s*)+)')
_HEADWORD = re.compile(r'([^\\{};\[\]()]{1,60}?)\s*\\[^\\]*\\')
# Inflected forms before the etymology: 'pl. E. {Bureaus}, F. {Bureaux}. ['
_FORMS = re.compile(r"[^\[\n]{0,80}\{[^\[\n]{0,80}(?=\[)")
_POS = re.compile(r"\s*((?:(?:n|a|adj|adv|v|t|i|pl|sing|prep|conj|interj|pron|p|pr|imp|vb|"
                  r"prop|superl|compar|obs)\.[ \t]*(?:&[ \t]*|;[ \t]*|,[ \t]*)?)+)")
# GCIDE character escapes: named ones, then a letter with a diacritic mark.
_NAMED = {"ae": "\u00e6", "AE": "\u00c6", "oe": "\u0153", "OE": "\u0152", "eth": "\u00f0",
          "thorn": "\u00fe", "deg": "\u00b0", "sect": "\u00a7", "root": "\u221a",
          "yogh": "\u021d", "ng": "\u014b", "asl": "a", "add": "a", "udd": "u", "imac": "i",
          "th": "th", "frac12": "\u00bd", "pound": "\u00a3", "pounds": "\u00a3",
          "alpha": "\u03b1", "beta": "\u03b2", "phi": "\u03c6", "bar": "|", "dsdot": "d"}
_ESCAPE = re.compile(r"\[([A-Za-z]{2,6})\]|\[(?:[\"'`~=.\-^,*]([A-Za-z]{1,2})[\^~`'\"=]?|"
                     r"([A-Za-z]{1,2})[\^~`'\"=])\]")


def b64_number(s):
    """dictd's base64 number encoding (most significant digit first)."""
    n = 0
    for ch in s:
        n = n * 64 + _B64.index(ch)
    return n


def read_records(dict_dir=DICT_DIR, name="gcide"):
    """[(first index headword, raw text)] of the dictionary's records in file order; index
    lines that point at the same record are merged."""
    with gzip.open("%s/%s.dict.dz" % (dict_dir, name)) as f:
        body = f.read()
    seen = {}
    with open("%s/%s.index" % (dict_dir, name), encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 3:
                continue
            key = (b64_number(p[1]), b64_number(p[2]))
            seen.setdefault(key, p[0])
    out = []
    for off, size in sorted(seen):
        raw = body[off:off + size]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        out.append((seen[(off, size)], text))
    return out


def split_sources(text):
    """[(chunk text, source tag or None)]: the text before each source tag, with its tag."""
    out, pos = [], 0
    for m in _SOURCE_TAG.finditer(text):
        out.append((text[pos:m.start()], m.group(1) or m.group(2)))
        pos = m.end()
    if text[pos:].strip():
        out.append((text[pos:], None))
    return out


def headwords(text):
    """Headwords named on a record's header line ('Gownsman \\..\\, Gownman \\..\\')."""
    m = _HEADER.match(text)
    if not m:
        return []
    return [" ".join(h.replace('"', "").replace("*", "").replace("`", "").split()).strip(", ")
            for h in _HEADWORD.findall(m.group(1))]


def header_pos(text):
    """Part-of-speech letters ('n', 'v', 'a', 'r') of the header, empty when unknown."""
    m = _HEADER.match(text)
    if not m:
        return set()
    p = _POS.match(text[m.end():])
    if not p:
        return set()
    tags = set(re.findall(r"[a-z]+", p.group(1)))
    out = set()
    if "n" in tags:
        out.add("n")
    if "v" in tags:
        out.add("v")
    if tags & {"a", "adj"}:
        out.add("a")
    if "adv" in tags:
        out.add("r")
    return out


def _unescape(m):
    if m.group(1):
        return _NAMED.get(m.group(1), m.group(0))
    return m.group(2) or m.group(3)


def clean_body(text):
    """Entry text without header (headwords, pronunciation, part of speech, etymology),
    source tags, braces and character escapes, on one line."""
    m = _HEADER.match(text)
    if m:
        text = re.sub(r"^[\s\\]*(?:\([^()]*\)\s*,?)?", "", text[m.end():])  # stray '\ \', pron.
        p = _POS.match(text)
        if p:
            text = text[p.end():]
        f = _FORMS.match(text)
        if f:
            text = text[f.end():]
        text = _strip_leading_brackets(text)
    text = _SOURCE_ONLY.sub(" ", _SOURCE_TAG.sub(" ", text))
    text = text.replace("{", "").replace("}", "")
    text = _ESCAPE.sub(_unescape, text)
    text = re.sub(r"\s*--\s*", " -- ", text)
    return " ".join(text.split()).lstrip(" .,;:")


def _strip_leading_brackets(text):
    while True:
        s = text.lstrip(" \t")
        if not s.startswith("["):
            return text
        depth = 0
        for i, ch in enumerate(s):
            depth += {"[": 1, "]": -1}.get(ch, 0)
            if depth == 0:
                text = s[i + 1:]
                break
        else:
            return text


def _from_wordnet(tag):
    """A chunk copied from WordNet: its source tag names WordNet and no Webster/Century."""
    return bool(tag) and "WordNet" in tag and not re.search(r"Webster|Century", tag)


def build_corpus(records, stats):
    """[(doc dict)], {lower-case headword: [doc ids]}, {doc id: part-of-speech set}.
    Records that only hold WordNet-sourced text are left out; WordNet-sourced chunks of
    mixed records are cut out."""
    entries = []  # [headwords, raw text without WordNet chunks, pos]
    for key, text in records:
        if key.startswith("00-"):
            continue
        heads = headwords(text)
        if not heads:
            if entries:  # a record split by the dictd conversion: continuation text
                entries[-1][1] += "\n" + text
                stats["records_merged"] += 1
            continue
        chunks = split_sources(text)
        wn = [c for c in chunks if _from_wordnet(c[1])]
        other = [c for c in chunks if not _from_wordnet(c[1])]
        if wn and not any(c[1] for c in other):
            stats["entries_wordnet_only"] += 1
            continue
        if wn:
            stats["entries_wordnet_chunks_cut"] += 1
            text = "".join(c[0] + ("[%s]" % c[1] if c[1] else "") + "\n" for c in other)
        entries.append([heads, text, header_pos(chunks[0][0] if chunks else text)])
    cleaned = []
    for heads, text, pos in entries:
        body = clean_body(text)
        if re.search(r"[A-Za-z]{2,}", body):
            cleaned.append((heads, body, pos))
        else:
            stats["entries_empty"] += 1
    first_seen = {}
    for heads, _, _ in cleaned:
        first_seen[heads[0]] = first_seen.get(heads[0], 0) + 1
    docs, by_word, pos_of, counter = [], {}, {}, {}
    for heads, body, pos in cleaned:
        h = heads[0]
        if first_seen[h] > 1:
            counter[h] = counter.get(h, 0) + 1
            doc_id = "%s#%d" % (h, counter[h])
        else:
            doc_id = h
        docs.append({"id": doc_id, "text": body, "headword": h})
        pos_of[doc_id] = pos
        for w in dict.fromkeys(x.lower() for x in heads):
            by_word.setdefault(w, []).append(doc_id)
    return docs, by_word, pos_of


def strip_words(text, words):
    """Remove each word/phrase (case-insensitive, whole words, simple plural too)."""
    for w in sorted(words, key=len, reverse=True):
        text = re.sub(r"(?i)(?<![\w-])%s(?:s|es)?(?![\w-])" % re.escape(w), " ", text)
    text = re.sub(r"\s+([,;.)])", r"\1", " ".join(text.split()))
    text = re.sub(r"\(\s*\)", "", text)
    return text.strip(" ;,")


def build(wordnet, n_queries=2000, seed=13, dict_dir=DICT_DIR):
    """Build the WordNet->GCIDE set. Returns (docs, queries, qrels, stats)."""
    stats = {k: 0 for k in ("records", "records_merged", "entries_wordnet_only",
                            "entries_wordnet_chunks_cut", "entries_empty",
                            "candidate_glosses", "glosses_pos_mismatch", "glosses_too_short")}
    records = read_records(dict_dir)
    stats["records"] = len(records)
    docs, by_word, pos_of = build_corpus(records, stats)
    cands = []
    for s in wordnet.synsets:
        lemma = next((w for w in s.lemmas if w == w.lower() and len(by_word.get(w, ())) == 1),
                     None)
        if lemma is None:
            continue
        doc_id = by_word[lemma][0]
        if pos_of[doc_id] and s.pos not in pos_of[doc_id]:
            stats["glosses_pos_mismatch"] += 1
            continue
        text = strip_words(s.definition(), s.lemmas)
        if len(text.split()) < 3:
            stats["glosses_too_short"] += 1
            continue
        cands.append(("wn-%s-%s" % (s.pos, s.offset), text, doc_id))
    stats["candidate_glosses"] = len(cands)
    random.Random(seed).shuffle(cands)
    queries, qrels, used = [], [], set()
    for qid, text, doc_id in cands:
        if doc_id in used:
            continue
        used.add(doc_id)
        queries.append({"id": qid, "text": text})
        qrels.append((qid, doc_id))
        if len(queries) == n_queries:
            break
    return docs, queries, qrels, stats
