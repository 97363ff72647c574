"""Each output of a page names only the data files it was made from (energy_nb.book.cells), and a cached result
names its files again when it is used later."""
from __future__ import annotations

import pytest

from energy_nb.book.cells import Tracker, names
from energy_nb.core import provenance


@pytest.fixture(autouse=True)
def _reads_left_as_found():
    """The pretend files these tests read stay out of the process's record of what it read."""
    before = dict(provenance._READS)
    yield
    provenance._READS.clear()
    provenance._READS.update(before)


def _cell(tracker: Tracker, source: str, reads: tuple[str, ...] = ()) -> list[str]:
    """Run a pretend cell: it reads ``reads``; returns what an output at its end would name."""
    tracker.pre(source)
    provenance.note_relative(*reads)
    shown = list(tracker.scope or {})
    tracker.post(source)
    return shown


def test_names_of_a_cell():
    loads, stores, changes = names("a = f(b)\nc[k] = d\ne.x = 1\ng += h\n%matplotlib inline")
    assert (loads, stores, changes) == (set(), set(), set())  # a magic: not Python, nothing followed
    loads, stores, changes = names("a = f(b)\nc[k] = d\ne.x = 1\ng += h")
    assert {"f", "b", "d", "k", "h"} <= loads and stores == {"a", "g"} and changes == {"c", "e", "g"}


def test_an_output_names_the_files_behind_the_variables_it_uses():
    t = Tracker()
    assert _cell(t, "a = read_a()", ("paper/a.csv",)) == ["paper/a.csv"]
    _cell(t, "b = read_b()", ("gpus.csv",))
    assert _cell(t, "show(a)") == ["paper/a.csv"]  # not gpus.csv, read by another cell for another variable
    assert _cell(t, "c = a.merge(b)") == ["paper/a.csv", "gpus.csv"]
    assert _cell(t, "show(c)") == ["paper/a.csv", "gpus.csv"]
    _cell(t, "d = {}")
    _cell(t, "d['x'] = b")  # changed in place: d now carries b's file
    assert _cell(t, "show(d)") == ["gpus.csv"]
    _cell(t, "a = 1")  # assigned anew from nothing: a carries no file any more
    assert _cell(t, "show(a)") == []


def test_a_cached_result_names_its_files_on_every_use():
    calls = []

    @provenance.cache
    def table():
        calls.append(1)
        provenance.note_relative("gpus.csv")
        return 42

    table()  # read once, outside any cell
    t = Tracker()
    t.pre("y = table()")
    assert table() == 42 and calls == [1]  # from the cache
    assert list(t.scope) == ["gpus.csv"]
    t.post("y = table()")
    assert _cell(t, "show(y)") == ["gpus.csv"]


def test_a_reader_left_quiet_records_nothing():
    with provenance.recording() as seen:
        with provenance.quiet():
            provenance.note_relative("measurements/cpu-smoke.csv")
        provenance.note_relative("paper/a100_energy.csv")
    assert list(seen) == ["paper/a100_energy.csv"]


def test_shipped_rows_do_not_name_a_file_that_adds_no_row():
    from energy_nb.data import shipped

    with provenance.recording() as seen:
        rows = shipped.shipped_data()
    assert len(rows) and "paper/a100_energy.csv" in seen
    assert "measurements/cpu-smoke.csv" not in seen  # CPU smoke runs of tiny replicas: read, no row kept
