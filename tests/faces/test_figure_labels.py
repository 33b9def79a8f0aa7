"""Issue 23: the book's figure labels cannot collide with the paper's figure numbers. Sphinx's
automatic "Fig. N" is off (numfig), and every caption that regenerates one of the paper's figures
names it as "The paper's Figure N" (a caption never says "Figure N" of the paper bare)."""
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CAPTION = re.compile(r"```\{(?:glue:figure|figure)\}[^\n]*\n(?::[^\n]*\n)*\n?(\*\*[^\n]*)")


def test_no_automatic_figure_numbers():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    print("sphinx config numfig:", cfg["sphinx"]["config"].get("numfig"))
    assert cfg["sphinx"]["config"].get("numfig") is False


def test_captions_name_the_papers_figure():
    bad, seen = [], 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for first in CAPTION.findall("".join(cell["source"])):
                seen += 1
                for m in re.finditer(r"Figure (\d)", first):
                    if not first[:m.start()].endswith("The paper's "):
                        bad.append(f"{path.name}: {first[:80]}")
    print(f"{seen} captions checked; bare paper figure numbers: {bad}")
    assert seen > 5 and not bad
