"""Language identification for mail: accuracy on short texts and the memory each library costs.

    python bench/language.py

Compares maintained PyPI detectors on (a) ``bench/data/language-samples.tsv`` (short mail
sentences in seven languages, written for Beacon) and (b) the opening 300 characters of every
message of the SpamAssassin training split that its labels call personal (English mail lists:
anything else reported is a false alarm that would skip the English analysis). Each library is
loaded in a fresh process that has imported spaCy (as a worker has), so the memory column is
what the library adds to a worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit (corpora)

HERE = Path(__file__).resolve()
SAMPLES = HERE.parent / "data" / "language-samples.tsv"
LANGS = ("en", "fr", "de", "es", "it", "nl", "pt")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def _detector(name: str):  # type: ignore[no-untyped-def]
    if name == "lingua":
        from lingua import Language, LanguageDetectorBuilder

        langs = [Language.ENGLISH, Language.FRENCH, Language.GERMAN, Language.SPANISH, Language.ITALIAN,
                 Language.DUTCH, Language.PORTUGUESE]
        det = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build() \
            if "--all" in sys.argv else LanguageDetectorBuilder.from_languages(*langs).build()

        def detect(text: str) -> str:
            lang = det.detect_language_of(text)
            return lang.iso_code_639_1.name.lower() if lang else "?"
        return detect
    if name == "lingua-all-lowacc":
        from lingua import LanguageDetectorBuilder

        det = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

        def detect(text: str) -> str:
            lang = det.detect_language_of(text)
            return lang.iso_code_639_1.name.lower() if lang else "?"
        return detect
    if name == "py3langid":
        import py3langid

        ident = py3langid.langid.LanguageIdentifier.from_model_file(py3langid.langid.MODEL_FILE, norm_probs=True)
        return lambda text: ident.classify(text)[0]
    if name == "langdetect":
        from langdetect import DetectorFactory, LangDetectException, detect

        DetectorFactory.seed = 0

        def detect_or_unknown(text: str) -> str:
            try:
                return detect(text)
            except LangDetectException:  # no letters at all
                return "?"
        return detect_or_unknown
    raise ValueError(name)


def child(name: str) -> dict[str, object]:
    from beacon.analysis.train_kind import load_examples
    from beacon.analysis.text import select_text
    from testkit.corpora import spamassassin_dir

    samples = [line.split("\t", 1) for line in SAMPLES.read_text().splitlines() if line and not line.startswith("#")]
    english = [select_text(e.email, 300).text[:300] for e in load_examples(spamassassin_dir()) if e.kind == "personal"]
    english = [t for t in english if len(t) >= 20]
    import spacy  # noqa: F401 - a worker has spaCy (and numpy) loaded already: count only the extra

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    detect = _detector(name)
    detect("warm up the detector with a sentence")
    load_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    right = sum(detect(text) == lang for lang, text in samples)
    t0 = time.perf_counter()
    not_en = sum(detect(text) != "en" for text in english)
    per_ms = 1000 * (time.perf_counter() - t0) / len(english)
    return {"name": name, "samples": len(samples), "right": right, "english": len(english),
            "not_en": not_en, "rss_mb": rss1 - rss0, "load_s": load_s, "ms": per_ms, "rss_total": _rss_mb()}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2])))
        return
    print("| library | short samples right | English list mail called another language | RSS added MB | load s | ms per text |")
    print("|---|---|---|---|---|---|")
    for name in ("py3langid", "langdetect", "lingua", "lingua-all-lowacc"):
        out = subprocess.run([sys.executable, str(HERE), "_child", name], capture_output=True, text=True)
        if out.returncode:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['right']}/{r['samples']} | {r['not_en']}/{r['english']} | {r['rss_mb']:.0f} "
              f"| {r['load_s']:.2f} | {r['ms']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
