#!/usr/bin/env python3
"""Evaluates every expression of the function suite in Flink and writes what Flink returns.

    /opt/flink-venv/bin/python tests/functions/generate.py [GROUP...]

For each cases/GROUP.txt (one expression per line; '#' starts a comment line), Flink evaluates
`SELECT id, <expression> FROM t` over table.sql's table, in one local JVM, and
expected/GROUP.jsonl gets one line per expression: its result type and one value per input
row (null for NULL, values in the Flink oracle's canonical text), or the error Flink raised.
Never edit the expected files by hand: rerun this script.
"""
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.environ.get("FLINK_ORACLE", os.path.join(HERE, "../../../shared/flink-oracle"))
sys.path.insert(0, ORACLE)
from flink_sql import Col, norm_py, split_statements, substitute  # noqa: E402


def flink_type(t):
    """Flink's type name without nullability, character types as STRING (rill has one),
    binary ones as BYTES, and TIME(1) and TIME(2) as TIME(3)."""
    t = t.replace(" NOT NULL", "")
    if t in ("TIME(1)", "TIME(2)"):
        return "TIME(3)"  # rill keeps a TIME of 1 to 3 fraction digits in milliseconds
    for prefix, name in (("VARCHAR(", "STRING"), ("CHAR(", "STRING"),
                         ("VARBINARY(", "BYTES"), ("BINARY(", "BYTES")):
        if t.startswith(prefix) and t.endswith(")"):
            return name
    return t


def main(groups):
    os.environ.setdefault("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    from pyflink.table import EnvironmentSettings, TableEnvironment
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    cfg = t_env.get_config()
    cfg.set("parallelism.default", "1")
    cfg.set("table.local-time-zone", "UTC")
    with open(os.path.join(HERE, "table.sql")) as f:
        for stmt in split_statements(substitute(f.read(), {}, HERE)):
            t_env.execute_sql(stmt)
    cases = os.path.join(HERE, "cases")
    groups = groups or sorted(g[:-4] for g in os.listdir(cases) if g.endswith(".txt"))
    for group in groups:
        out = []
        with open(os.path.join(cases, group + ".txt")) as f:
            exprs = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
        for expr in exprs:
            print("%s: %s" % (group, expr), file=sys.stderr)
            out.append(evaluate(t_env, expr))
        with open(os.path.join(HERE, "expected", group + ".jsonl"), "w") as f:
            for record in out:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")


def evaluate(t_env, expr):
    try:
        table = t_env.sql_query("SELECT id, %s AS v FROM t" % expr)
        schema = table.get_resolved_schema()._j_resolved_schema
        col = Col("v", str(schema.getColumnDataTypes()[1].toString()))
        rows = []
        with table.execute().collect() as it:
            for r in it:
                rows.append((r[0], norm(col, r[1])))
        rows.sort()
        return {"expr": expr, "type": flink_type(col.type_str), "rows": [v for _, v in rows]}
    except Exception as e:  # a validation or runtime error: rill must refuse too
        message = str(e).strip().splitlines()
        return {"expr": expr, "error": message[0] if message else type(e).__name__}


def norm(col, v):
    """A value's text: binary strings as Flink's SQL client prints them (x'0aff'), times as
    Flink writes them (no trailing fraction zeros: 12:00:00.5)."""
    if isinstance(v, (bytes, bytearray)):
        return "x'%s'" % v.hex()
    if isinstance(v, datetime.time):
        fraction = ("%06d" % v.microsecond).rstrip("0")
        return v.strftime("%H:%M:%S") + ("." + fraction if fraction else "")
    return norm_py(col, v)


if __name__ == "__main__":
    main(sys.argv[1:])
