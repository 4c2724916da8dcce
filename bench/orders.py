"""Writes N order events as CSV 'YYYY-MM-DD HH:MM:SS.mmm,order_id,event,amount', in time order:
an order is created every 50 ms; 75 % are paid 1-14 minutes later, 10 % 16-30 minutes later (too
late for a 15-minute WITHIN) and 15 % never. Deterministic (fixed seed).

    python3 bench/orders.py --rows 1000000 --out /tmp/rill-bench/orders_1000000.csv
    rill -f examples/orders.sql -D INPUT=/tmp/rill-bench/orders_1000000.csv > /dev/null
"""
import argparse
import datetime
import heapq
import random

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

rng = random.Random(42)
start = datetime.datetime(2024, 1, 1)
payments = []  # (time ms, order number, amount)
written = 0
order = 0
with open(args.out, "w") as out:
    def write(ms, n, event, amount):
        global written
        ts = start + datetime.timedelta(milliseconds=ms)
        out.write(f"{ts:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d},o{n},{event},{amount:.2f}\n")
        written += 1

    while written < args.rows:
        now = order * 50
        while payments and payments[0][0] <= now and written < args.rows:
            ms, n, amount = heapq.heappop(payments)
            write(ms, n, "paid", amount)
        if written >= args.rows:
            break
        amount = rng.randint(100, 50000) / 100
        write(now, order, "created", amount)
        fate = rng.random()
        if fate < 0.75:
            heapq.heappush(payments, (now + rng.randint(60_000, 840_000), order, amount))
        elif fate < 0.85:
            heapq.heappush(payments, (now + rng.randint(960_000, 1_800_000), order, amount))
        order += 1
