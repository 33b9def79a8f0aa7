"""tests/file_costs.py: `make test`'s workers take test files longest first (issue 25)."""
import json
from types import SimpleNamespace

import file_costs


def items(*nodeids):
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_files_go_longest_first_and_keep_their_tests_in_order():
    got = file_costs.longest_first(
        items("a.py::t1", "a.py::t2", "b.py::t1", "c.ipynb::Cell 0", "d.py::t1", "b.py::t2",
              "c.ipynb::Cell 1"),
        {"a.py": 1.0, "b.py": 50.0, "c.ipynb": 5.0, "e.py": 3.0})
    order = [i.nodeid for i in got]
    print("order:", order)
    # b (50 s), c (5 s), d (not measured: the median of 1, 3, 5, 50 = 5, after c by collection
    # order), a (1 s); a file's tests in their own order
    assert order == ["b.py::t1", "b.py::t2", "c.ipynb::Cell 0", "c.ipynb::Cell 1", "d.py::t1",
                     "a.py::t1", "a.py::t2"]


def test_no_measurements_keep_the_collection_order():
    nodeids = ["z.py::t", "a.py::t", "m.py::t"]
    assert [i.nodeid for i in file_costs.longest_first(items(*nodeids), {})] == nodeids


def test_a_run_updates_the_files_it_measured_and_keeps_the_others(tmp_path):
    path = tmp_path / "file_seconds.json"
    path.write_text(json.dumps({"a.py": 10.0, "b.py": 20.0}))
    rec = file_costs.FileSeconds()
    for nodeid, d in (("b.py::t1", 1.25), ("b.py::t2", 2.0), ("c.py::t", 0.5)):
        rec.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=d))
    rec.write(path)
    got = json.loads(path.read_text())
    print("written:", got)
    assert got == {"a.py": 10.0, "b.py": 3.2, "c.py": 0.5}


def test_the_committed_costs_name_existing_files():
    """A renamed or deleted file's seconds would order nothing: the committed table is current."""
    from pathlib import Path
    root = Path(file_costs.__file__).resolve().parent.parent
    costs = file_costs.load()
    missing = [f for f in costs if not (root / f).is_file()]
    print(len(costs), "files measured; missing:", missing)
    assert costs and not missing
