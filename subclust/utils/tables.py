"""A small table of results that prints aligned, exports CSV, and feeds pandas."""

import csv
import io
from dataclasses import dataclass, field

from subclust.utils.atomic import write_atomic

__all__ = ["Table"]


@dataclass
class Table:
    """Rows of named values, printed as an aligned text table.

    Parameters
    ----------
    title : str
        Printed above the table.
    rows : list of dict
        One dict per row; columns are the union of keys in first-seen order.
    notes : list of str
        Printed below the table (what the numbers show, how to reproduce).

    Examples
    --------
    >>> t = Table("demo")
    >>> t.add_row(method="kss", accuracy=1.0)
    >>> print(t)
    demo
    method  accuracy
    ------  --------
    kss       1.0000
    """

    title: str = ""
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add_row(self, **values):
        self.rows.append(values)

    @property
    def columns(self):
        names = {}
        for row in self.rows:
            names.update(dict.fromkeys(row))
        return list(names)

    def column(self, name):
        return [row.get(name) for row in self.rows]

    def to_csv(self, path=None, force=False):
        """Return the rows as CSV text, or write them to ``path`` (atomically).

        ``force`` replaces an existing file (see :func:`subclust.io.write_atomic`).
        """
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        if path is None:
            return buffer.getvalue()
        write_atomic(path, lambda f: f.write(buffer.getvalue().encode("utf-8")), force=force)
        return None

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def __str__(self):
        columns = self.columns
        cells = [[_format(row.get(c)) for c in columns] for row in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        numeric = [all(isinstance(row.get(c), (int, float)) for row in self.rows) for c in columns]

        def line(values):
            parts = [v.rjust(w) if num else v.ljust(w)
                     for v, w, num in zip(values, widths, numeric)]
            return "  ".join(parts).rstrip()

        out = [self.title] if self.title else []
        out += [line(columns), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in cells]
        out += self.notes
        return "\n".join(out)


def _format(value):
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)
