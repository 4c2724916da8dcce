#!/usr/bin/env python3
"""Writes the MULTISET columns of a case's expected.csv in Flink's text, elements in ascending
order: the oracle reads a query with MULTISET columns through collect() (Flink's csv sink has
no MULTISET), which gives each as a Python dict in the order of Flink's hash map; rill lists a
multiset's elements in ascending order. Elements are numbers or strings.

    multiset.py expected.csv COLUMN...
"""
import ast
import csv
import sys

path, *columns = sys.argv[1:]
with open(path, newline="") as f:
    header, *rows = list(csv.reader(f))
for column in columns:
    c = header.index(column)
    for row in rows:
        if row[c]:
            counts = ast.literal_eval(row[c])
            assert isinstance(counts, dict), "%s holds a multiset: %r" % (column, row[c])
            row[c] = "{%s}" % ", ".join("%s=%d" % (k, n) for k, n in sorted(counts.items()))
rows.sort()
with open(path, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
