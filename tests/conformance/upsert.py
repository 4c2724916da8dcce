#!/usr/bin/env python3
"""Keeps, of a case's expected.csv (the oracle's sorted rows, header first), only the final
version of each key: for a query whose updates Flink sends as upserts (+U with no -U, as a
Top-1 on a key it does not select the rank of), the oracle materializes every version.

    upsert.py expected.csv changelog.csv KEY_COLUMN
changelog.csv is the oracle's --changelog output of the same query (op column first).
"""
import csv
import sys

expected_path, changelog_path, key = sys.argv[1:]
with open(expected_path, newline="") as f:
    header, *rows = list(csv.reader(f))
k = header.index(key)
final = {}
with open(changelog_path, newline="") as f:
    for op, *row in csv.reader(f):
        if op in ("+I", "+U"):
            final[row[k]] = row
        elif op in ("-U", "-D"):
            final.pop(row[k], None)
kept = [row for row in rows if final.get(row[k]) == row]
assert len(kept) == len(final), "every final row is among the oracle's rows"
with open(expected_path, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    w.writerows(kept)
