"""The glossary (book/glossary.md): in the table of contents, every {term} of the book defined
in it, and the numbers it states equal to the code's (a definition that drifts from the code
fails here, not in a reader's head)."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "book" / "glossary.md"


def defined_terms() -> dict[str, str]:
    """term (lower case) -> its definition, from the ```{glossary} block."""
    block = GLOSSARY.read_text().split("```{glossary}", 1)[1].split("```", 1)[0]
    terms, current = {}, None
    for line in block.splitlines():
        if line and not line.startswith(" "):
            current = line.strip().lower()
            terms[current] = ""
        elif current and line.strip():
            terms[current] += " " + line.strip()
    return terms


def book_sources() -> dict[str, str]:
    """Every page's Markdown (notebooks: their markdown cells)."""
    out = {}
    for p in sorted((ROOT / "book").glob("*.md")):
        out[p.name] = p.read_text()
    for p in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(p.read_text())["cells"]
        out[p.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return out


def test_the_glossary_is_a_page_of_the_book():
    assert re.search(r"file: book/glossary\b", (ROOT / "_toc.yml").read_text())


def test_every_term_role_names_a_defined_term():
    terms = defined_terms()
    print(f"{len(terms)} terms defined: {sorted(terms)}")
    assert len(terms) >= 20
    used = {}
    for page, text in book_sources().items():
        for m in re.finditer(r"\{term\}`([^`]+)`", text):
            ref = m.group(1)
            target = re.search(r"<([^>]+)>$", ref)        # {term}`text <Term>`
            name = " ".join((target.group(1) if target else ref).split()).lower()
            used.setdefault(name, set()).add(page)
    print("terms used:", {t: sorted(p) for t, p in used.items()})
    assert {t for t in used if t not in terms} == set()
    # the book's summary pages point readers at it
    assert {"findings.ipynb", "verdicts.ipynb"} <= set().union(*used.values())


def test_the_numbers_it_states_are_the_codes():
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS, NOT_TESTED, INCONCLUSIVE
    from lra.campaign.experiments import BUDGETS
    from lra.engine.results import SOLVED_ERROR
    from lra.tasks import TASKS
    terms = defined_terms()
    paper, smoke = BUDGETS["paper"], BUDGETS["smoke"]
    expect = {
        "paper budget": [f"{paper.max_iterations:,}-iteration cap",
                         f"{paper.validation_size:,}-sample validation every {paper.check_every}"],
        "smoke budget": [f"{smoke.max_iterations:,}-iteration cap",
                         f"{smoke.validation_size:,}-sample validation every {smoke.check_every}"],
        "check": [f"every {paper.check_every} iterations at the",
                  f"every {smoke.check_every} at the"],
        "solved": ["10⁻⁴" if SOLVED_ERROR == 1e-4 else repr(SOLVED_ERROR),
                   f"{paper.validation_size:,} samples"],
        "supported": [f"at least {['zero', 'one', 'two', 'three', 'four', 'five'][MIN_SEEDS]} seeds"],
        "chance level": [f"{100 // TASKS['temporal_order'].n_out} % on temporal order "
                         f"({['', '', 'two', 'three', 'four'][TASKS['temporal_order'].n_out]} classes)",
                         f"{100 // TASKS['random_permutation'].distractor_low} % on random "
                         "permutation", f"the other "
                         f"{TASKS['random_permutation'].n_in - TASKS['random_permutation'].distractor_low}"
                         " symbols are distractors"],
        NOT_TESTED: [], INCONCLUSIVE: [],
    }
    for term, phrases in expect.items():
        assert term in terms, term
        for phrase in phrases:
            print(f"{term!r} says {phrase!r}")
            assert phrase in terms[term], (term, phrase, terms[term])
