#!/usr/bin/env python3
"""Writes the Nexmark conformance cases (nexmark_qN/query.sql) from the benchmark's queries
in bench/nexmark/: the event table over data/nexmark.json (the events rill's nexmark
connector makes, see data/nexmark_events.sql), the benchmark's views, and the query's own
statements with its blackhole sink taken off, so the harness sees its result. q13's side input
is data/side_input.txt, as the benchmark's SideInputGenerator writes it (10000 lines "i,i").
q23 (three tables joined, every column kept) reads the first 600 events only
(data/nexmark_q23.json): over all 5000 its answer is 7.9 MB.

    tests/conformance/make_nexmark_cases.py q0 q1 ...   # then regenerate.sh nexmark_q0 ...
"""
import pathlib
import re
import sys

here = pathlib.Path(__file__).resolve().parent
bench = here.parent.parent / "bench" / "nexmark"

ddl = (bench / "ddl.sql").read_text()
table = ddl[ddl.index("CREATE TABLE datagen") : ddl.index(") WITH (")]
views = (bench / "views.sql").read_text().replace("${NEXMARK_TABLE:-datagen}", "datagen")
views = "\n".join(l for l in views.splitlines() if not l.startswith("--")).strip()


# Queries that read fewer events than the others, and the file of their events.
EVENTS = {"q23": "nexmark_q23.json"}


def statements(text):
    text = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


for query in sys.argv[1:] or sorted(p.stem for p in bench.glob("*q*.sql")):
    body = []
    found = statements((bench / f"{query}.sql").read_text())
    sink = next(re.match(r"INSERT INTO (\w+)", s, re.I).group(1) for s in found if re.match(r"INSERT INTO", s, re.I))
    for s in found:
        if re.match(rf"CREATE TABLE {sink}\b", s, re.I):
            continue
        s = re.sub(rf"^INSERT INTO {sink}\s*", "", s, flags=re.I)
        s = s.replace("${FLINK_HOME}/data/side_input.txt", "${SQL_DIR}/../data/side_input.txt")
        body.append(s + ";")
    events = EVENTS.get(query, "nexmark.json")
    case = here / f"nexmark_{query}"
    case.mkdir(exist_ok=True)
    (case / "query.sql").write_text(
        f"-- Nexmark {query} (bench/nexmark/{query}.sql) over the conformance events\n"
        f"-- (data/{events}). Written by make_nexmark_cases.py; expected.csv is Flink's answer.\n"
        f"{table}) WITH (\n"
        "    'connector' = 'filesystem',\n"
        f"    'path' = '${{SQL_DIR}}/../data/{events}',\n"
        "    'format' = 'json'\n"
        ");\n\n"
        f"{views}\n\n" + "\n\n".join(body) + "\n"
    )
    print(case)
