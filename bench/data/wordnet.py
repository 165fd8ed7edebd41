"""Reader for the installed WordNet database (Debian wordnet-base, /usr/share/wordnet).

Parses data.{noun,verb,adj,adv} into synsets (offset, part of speech, lemmas with their
original case, gloss) and answers "is this a common word?" for the Nave's name filter,
using WordNet's own exception lists and suffix rules to reduce inflected forms.
"""
import os
import re

WORDNET_DIR = "/usr/share/wordnet"
POS_FILES = (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv"))
# WordNet's morphological detachment rules (morphy), per part of speech.
_SUFFIXES = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
             ("shes", "sh"), ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
             ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}


class Synset:
    __slots__ = ("offset", "pos", "lexfile", "lemmas", "gloss", "instance")

    def __init__(self, offset, pos, lexfile, lemmas, gloss, instance):
        self.offset, self.pos, self.lexfile = offset, pos, lexfile
        self.lemmas, self.gloss = lemmas, gloss
        self.instance = instance  # has an instance-hypernym pointer: a specific person/place

    @property
    def id(self):
        return "%s%s" % (self.pos, self.offset)

    def definition(self):
        """The gloss without its quoted usage examples."""
        parts = [p.strip() for p in self.gloss.split(";")]
        return "; ".join(p for p in parts if p and not p.startswith('"')).strip()


def _parse_line(line):
    head, _, gloss = line.partition(" | ")
    f = head.split()
    count = int(f[3], 16)
    lemmas = []
    for i in range(count):
        w = f[4 + 2 * i]
        w = re.sub(r"\((a|p|ip)\)$", "", w)  # adjective position markers
        lemmas.append(w.replace("_", " "))
    pos = "a" if f[2] == "s" else f[2]
    return Synset(f[0], pos, int(f[1]), lemmas, gloss.strip(), " @i " in head)


class WordNet:
    """All synsets of the installed WordNet plus lemma lookups; read once, not thread-shared."""

    def __init__(self, root=WORDNET_DIR):
        self.synsets = []
        self.common = {"noun": set(), "verb": set(), "adj": set(), "adv": set()}
        self.proper = {}  # lower-cased capitalised lemma -> synsets that use it
        self.exceptions = {}
        for letter, name in POS_FILES:
            with open(os.path.join(root, "data." + name), encoding="utf-8",
                      errors="replace") as f:
                for line in f:
                    if line.startswith("  ") or not line.strip():
                        continue  # licence header
                    s = _parse_line(line.rstrip("\n"))
                    self.synsets.append(s)
                    for lemma in s.lemmas:
                        if lemma == lemma.lower():  # capitalised lemmas are proper names
                            self.common[name].add(lemma)
                        else:
                            self.proper.setdefault(lemma.lower(), []).append(s)
            exc = os.path.join(root, name + ".exc")
            table = {}
            if os.path.exists(exc):
                with open(exc, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        p = line.split()
                        if len(p) >= 2:
                            table[p[0].replace("_", " ")] = p[1].replace("_", " ")
            self.exceptions[name] = table

    def base_forms(self, word, pos):
        """Candidate base forms of a lower-case word in one part of speech (morphy)."""
        forms = {word}
        if word in self.exceptions[pos]:
            forms.add(self.exceptions[pos][word])
        for suf, rep in _SUFFIXES[pos]:
            if word.endswith(suf) and len(word) > len(suf) + 1:
                forms.add(word[: -len(suf)] + rep)
        return forms

    def is_common(self, word, pos=None):
        """True when the word (any inflection) is a lower-case lemma of WordNet."""
        w = word.lower()
        for p in ([pos] if pos else ("noun", "verb", "adj", "adv")):
            if any(f in self.common[p] for f in self.base_forms(w, p)):
                return True
        return False
