#!/usr/bin/env python3
"""Writes the join data sets (deterministic): orders (json lines, for NULL keys), customers,
shipments, tiers.

Customers: ids 0..39, some twice (a changed name or region), some never ordering;
orders: customer ids 0..49 (40..49 unknown) or empty (NULL), out of order by up to 3 s;
shipments: for most orders, a second event 0..120 s after the order, some for unknown orders.
"""
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261202)
regions = ["north", "south", "east", "west", ""]


def ts(ms):
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"2024-01-01 {h:02d}:{m:02d}:{s:02d}.{ms:03d}"


with open(os.path.join(here, "customers.csv"), "w") as f:
    t = 0
    for cid in range(40):
        for version in range(1 + (cid % 7 == 0)):
            t += rng.randint(0, 2000)
            f.write(f"{ts(t)},{cid},name{cid}{'b' * version},{rng.choice(regions)}\n")

orders = []
t = 0
for oid in range(2000):
    t += rng.randint(0, 400)
    cust = "" if rng.random() < 0.03 else str(rng.randint(0, 49))
    amount = rng.randint(1, 500)
    orders.append((max(0, t - rng.randint(0, 3000)), oid, cust, amount))
with open(os.path.join(here, "orders.json"), "w") as f:
    for t, oid, cust, amount in orders:
        cust = cust or "null"
        f.write(f'{{"ts": "{ts(t)}", "order_id": {oid}, "customer_id": {cust}, "amount": {amount}}}\n')

shipments = []
for t, oid, cust, amount in orders:
    if rng.random() < 0.8:
        shipments.append((t + rng.randint(0, 120_000), oid, rng.choice(["ups", "dhl", "fedex"])))
for i in range(40):
    shipments.append((rng.randint(0, 800_000), 5000 + i, "ups"))
shipments.sort()
with open(os.path.join(here, "shipments.csv"), "w") as f:
    for t, oid, carrier in shipments:
        f.write(f"{ts(t)},{oid},{carrier}\n")

# Customer tiers: a versioned table (PRIMARY KEY customer_id), each customer's tier changing
# a few times while the orders come in.
tiers = []
for cid in range(0, 50, 2):
    t = rng.randint(0, 60_000)
    for _ in range(rng.randint(1, 4)):
        tiers.append((t, cid, rng.choice(["bronze", "silver", "gold"]), rng.randint(0, 20)))
        t += rng.randint(30_000, 200_000)
tiers.sort()
with open(os.path.join(here, "tiers.csv"), "w") as f:
    for t, cid, tier, discount in tiers:
        f.write(f"{ts(t)},{cid},{tier},{discount}\n")
