"""Paraphrase / non-paraphrase pairs for the semantic-cache benchmark, from two Bibles.

The same Old Testament verse in the World English Bible and the King James Version is a
paraphrase pair (label 1); the KJV text of a neighbouring verse of the same chapter is a hard
negative (label 0). Verses are aligned by their chapter/verse slots, whose chapter markers
are checked, and kept only when the wording confirms the alignment (the two modules number
some verses differently); verses whose text repeats verbatim anywhere are dropped.
"""
import re

from sword import ZText

WEB_MODULE = "engWEB2015eb"
KJV_MODULE = "engKJV2006eb"

# Archaic KJV forms mapped to the WEB's wording before comparing vocabularies.
_ARCHAIC = {"thee": "you", "thou": "you", "ye": "you", "thy": "your", "thine": "your",
            "hath": "has", "hast": "have", "saith": "says", "spake": "spoke", "unto": "to",
            "lord": "yahweh", "shalt": "will", "shall": "will", "wilt": "will", "art": "are",
            "doth": "does", "dost": "do"}
_STOP = set("the and of to a in that is was he for it with as his on be at by i this had "
            "not are but from or have an they which you were her all she there would their "
            "we him been has when who will no if out so said what up its into them me my "
            "then than your our us".split())
MIN_SIMILARITY = 0.25  # Dice overlap of content-word stems for an aligned verse pair


def content_stems(text):
    """Set of crude stems of content words, archaic forms normalised."""
    out = set()
    for t in re.findall(r"[a-z]+", text.lower()):
        t = _ARCHAIC.get(t, t)
        if t in _STOP or len(t) < 3:
            continue
        for suf in ("eth", "est", "ing", "ed", "es", "s"):
            if t.endswith(suf) and len(t) - len(suf) >= 3:
                t = t[: -len(suf)]
                break
        out.add(t[:6])
    return out


def dice(a, b):
    return 2.0 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def normalise(text):
    """Key for verbatim-repeat detection: lower-case words only."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _chapter_ok(mod, book, ch):
    return ('osisID="%s.%d"' % (book, ch)) in mod.raw(book, ch, 0)


def _texts(mod, refs):
    return {r: mod.text(*r) for r in refs}


def build(root=None):
    """Returns (pairs, stats). Pairs: {"id", "a" (WEB), "b" (KJV), "label", "ref", "ref_b"}."""
    kw = {"root": root} if root else {}
    web, kjv = ZText(WEB_MODULE, **kw), ZText(KJV_MODULE, **kw)
    v11n = kjv.v11n
    stats = {k: 0 for k in ("ot_verses", "chapters_marker_mismatch", "verses_empty",
                            "verses_repeated", "verses_misaligned", "verses_length_mismatch",
                            "positives", "negatives", "verses_without_negative")}
    ot = [r for r in v11n.verses() if v11n.book_testament[r[0]] == "ot"]
    stats["ot_verses"] = len(ot)
    bad_chapters = {(b, c) for b, c, v in ot if v == 1
                    and not (_chapter_ok(web, b, c) and _chapter_ok(kjv, b, c))}
    stats["chapters_marker_mismatch"] = len(bad_chapters)
    W, K = _texts(web, ot), _texts(kjv, ot)
    # Verbatim repeats anywhere in either Bible (both testaments).
    seen = {}
    for mod, texts in ((web, W), (kjv, K)):
        for r in v11n.verses():
            t = texts.get(r)
            if t is None:
                t = mod.text(*r)
            key = (mod is web, normalise(t))
            if key[1]:
                seen[key] = seen.get(key, 0) + 1
    repeated = {r for r in ot if seen.get((True, normalise(W[r])), 0) > 1
                or seen.get((False, normalise(K[r])), 0) > 1}
    SW = {r: content_stems(W[r]) for r in ot}
    SK = {r: content_stems(K[r]) for r in ot}
    good = set()
    for r in ot:
        b, c, v = r
        if (b, c) in bad_chapters:
            continue
        if not W[r] or not K[r]:
            stats["verses_empty"] += 1
            continue
        if r in repeated:
            stats["verses_repeated"] += 1
            continue
        nw, nk = len(W[r].split()), len(K[r].split())
        if not 0.5 <= nw / nk <= 2.0:
            stats["verses_length_mismatch"] += 1
            continue
        s = dice(SW[r], SK[r])
        rivals = []
        for d in (-1, 1):
            q = (b, c, v + d)
            if q in SK:
                rivals += [dice(SW[r], SK[q]), dice(SW[q], SK[r])]
        if s < MIN_SIMILARITY or any(x >= s for x in rivals):
            stats["verses_misaligned"] += 1
            continue
        good.add(r)
    pairs = []
    for r in ot:
        if r not in good:
            continue
        b, c, v = r
        ref = "%s.%d.%d" % r
        pairs.append({"id": "p-" + ref, "a": W[r], "b": K[r], "label": 1, "ref": ref,
                      "ref_b": ref})
        stats["positives"] += 1
        neg = next((q for q in ((b, c, v + 1), (b, c, v - 1)) if q in good), None)
        if neg is None:
            stats["verses_without_negative"] += 1
            continue
        ref_b = "%s.%d.%d" % neg
        pairs.append({"id": "n-" + ref, "a": W[r], "b": K[neg], "label": 0, "ref": ref,
                      "ref_b": ref_b})
        stats["negatives"] += 1
    return pairs, stats
