#!/usr/bin/env python3
"""Data for bench/serve: seed-shaped ~1 KB envelopes, 1,000 generated rules, expected fan-out.

Deterministic (seeded), stdlib only. Used by bench.py; runnable alone:

    gen.py events --out FILE --count N --id-prefix HEX8 [--seed S] [--start K]
    gen.py rules  --out DIR --topic-prefix P --webhook URL [--rules 1000] [--topics 250]

Event i depends only on (seed, i). Every generated rule is one of five families whose matches
`expected_topics()` below computes without a rule engine (the set is designed for that), so the
harness knows how many output messages a complete run writes.
"""
import argparse
import json
import os
import random
import sys

DOMAINS = {
    "member": [
        "member.created", "member.activated", "member.suspended", "member.reactivated", "member.terminated",
        "member.profile.updated", "member.contact.changed", "member.preferences.updated",
        "member.consent.granted", "member.consent.revoked", "member.membership.renewed",
        "member.membership.upgraded", "member.membership.downgraded", "member.membership.expired",
        "member.membership.cancelled",
    ],
    "payment": [
        "payment.initiated", "payment.authorized", "payment.captured", "payment.failed", "payment.refunded",
        "payment.subscription.created", "payment.subscription.updated", "payment.subscription.cancelled",
        "payment.subscription.renewed",
    ],
    "certification": [
        "certification.applied", "certification.approved", "certification.issued", "certification.renewed",
        "certification.expired", "certification.revoked", "certification.credits.earned",
        "certification.course.completed", "certification.exam.passed", "certification.exam.failed",
    ],
    "system": [
        "system.user.login", "system.user.logout", "system.permission.granted", "system.permission.revoked",
        "system.data.exported", "system.sync.started", "system.sync.completed", "system.sync.failed",
        "system.webhook.delivered", "system.webhook.failed",
    ],
}
DOMAIN_WEIGHTS = {"member": 3, "payment": 4, "certification": 2, "system": 3}
ALL_TYPES = [t for d in DOMAINS for t in DOMAINS[d]]
TAGS = ["profile", "update", "manual", "automated", "bulk", "api", "web", "mobile", "batch", "priority",
        "review", "audit", "gdpr", "billing", "renewal", "onboarding", "partner", "internal", "import",
        "export", "retry", "legacy", "beta", "support"]
REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "ap-south", "ap-east"]
PRIORITIES = ["low", "normal", "high"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY"]
TIERS = ["basic", "silver", "gold", "platinum"]
TENANTS = 1000
AMOUNT_EDGES = [0, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000, 1e12]  # 10 disjoint ranges
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
         "labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris "
         "nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse").split()
TARGET_BYTES = 1024


def event_id(prefix, i):
    return "%s-%04x-4%03x-8%03x-%012x" % (prefix, (i >> 48) & 0xFFFF, 0, 0, i & 0xFFFFFFFFFFFF)


def seq_of(eid):
    """The event index back from an eventId made by event_id()."""
    return int(eid[-12:], 16)


def make_event(seed, i, prefix):
    r = random.Random(seed * 1_000_003 + i)
    domain = r.choices(list(DOMAIN_WEIGHTS), weights=list(DOMAIN_WEIGHTS.values()))[0]
    etype = r.choice(DOMAINS[domain])
    tags = r.sample(TAGS, r.randint(1, 5))
    if domain == "member" and r.random() < 0.3:
        tags.append("sync_to_crm")
    # Skewed tenants: a few large ones, a long tail.
    tenant = min(int(r.paretovariate(1.2)) - 1, TENANTS - 1)
    sid = "%s_%06d" % (domain[:3], r.randrange(1_000_000))
    data = {"tenantId": "tenant-%04d" % tenant, "region": r.choice(REGIONS), "priority": r.choice(PRIORITIES)}
    if domain == "member":
        data.update({"firstName": r.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]),
                     "lastName": r.choice(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson"]),
                     "email": "User%d@Example.org" % r.randrange(10**6), "phone": "+1-555-%04d" % r.randrange(10**4),
                     "membershipTier": r.choice(TIERS), "status": r.choice(["active", "pending", "lapsed"]),
                     "address": {"city": r.choice(["Boston", "Lyon", "Pune", "Osaka"]), "postalCode": "%05d" % r.randrange(10**5)},
                     "changes": {"email": {"old": "a@x.org", "new": "b@x.org"}}})
    elif domain == "payment":
        data.update({"amount": round(10 ** r.uniform(-0.3, 4.7), 2), "currency": r.choice(CURRENCIES),
                     "method": r.choice(["card", "ach", "wire", "paypal"]), "invoiceId": "inv_%07d" % r.randrange(10**7)})
    elif domain == "certification":
        data.update({"certificationId": "cert_%05d" % r.randrange(10**5), "credits": r.randint(1, 40),
                     "score": r.randint(40, 100)})
    else:
        data.update({"status": r.choice(["ok", "failed", "partial"]), "durationMs": r.randint(1, 60000)})
    ev = {
        "eventId": event_id(prefix, i),
        "eventType": etype,
        "eventVersion": "2.0",
        "eventTime": "2026-12-03T%02d:%02d:%02d.%03dZ" % (r.randrange(24), r.randrange(60), r.randrange(60), r.randrange(1000)),
        "producer": {"service": domain + "-service", "instance": "%s-service-pod-%06x" % (domain, r.randrange(1 << 24)), "version": "3.2.1"},
        "subject": {"type": domain, "id": sid, "alternateIds": {"legacyId": "L%05d" % r.randrange(10**5), "crmId": "C%05d" % r.randrange(10**5)}},
        "data": data,
        "metadata": {"correlationId": "corr_%012x" % r.getrandbits(48), "causationId": "evt_%012x" % r.getrandbits(48),
                     "userId": "usr_%d" % r.randrange(10**5), "sessionId": "sess_%010x" % r.getrandbits(40),
                     "traceId": "%032x" % r.getrandbits(128), "tags": tags},
        "dataVersion": "1.0",
        "dataContentType": "application/json",
    }
    base = len(json.dumps(ev, separators=(",", ":"))) + len(',"note":""')
    words = []
    n = 0
    while base + n < TARGET_BYTES:
        w = r.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    data["note"] = " ".join(words)[: max(0, TARGET_BYTES - base)]
    return ev


# ---- rules ------------------------------------------------------------------------------------

def make_rules(seed, count, topics):
    """count generated rules as (name, kind, params, topic index). Families (count=1000):
    F1 264  eventType == T and data.region == R        every (T, R): each event matches exactly one
    F2 240  eventType == T and metadata.tags contains G  random (T, G) pairs
    F3  90  eventType == P and data.amount between lo and hi   payment types x 10 disjoint ranges
    F4 400  data.tenantId == "tenant-K"                 the 400 largest tenants
    F5   6  eventType like "D.*" and data."priority" == "high" (a keyword: quoted) and metadata.tags contains G
    """
    r = random.Random(seed)
    rules = []
    for t in ALL_TYPES:
        for reg in REGIONS:
            rules.append(("F1", (t, reg)))
    pairs = [(t, g) for t in ALL_TYPES for g in TAGS]
    for p in r.sample(pairs, 240):
        rules.append(("F2", p))
    for t in DOMAINS["payment"]:
        for k in range(10):
            rules.append(("F3", (t, AMOUNT_EDGES[k], AMOUNT_EDGES[k + 1])))
    for k in range(400):
        rules.append(("F4", ("tenant-%04d" % k,)))
    for d, g in [("member", "priority"), ("payment", "billing"), ("certification", "review"),
                 ("system", "audit"), ("member", "gdpr"), ("payment", "retry")]:
        rules.append(("F5", (d, g)))
    while len(rules) < count:  # more than 1000 asked: more F4 tenants (no overlap semantics change)
        rules.append(("F4", ("tenant-%04d" % (len(rules) % TENANTS),)))
    rules = rules[:count]
    r.shuffle(rules)
    return [("g%04d" % i, kind, params, i % topics) for i, (kind, params) in enumerate(rules)]


def rule_condition(kind, p):
    if kind == "F1":
        return 'eventType == "%s" and data.region == "%s"' % p
    if kind == "F2":
        return 'eventType == "%s" and metadata.tags contains "%s"' % p
    if kind == "F3":
        # between is inclusive on both ends; make the ranges disjoint with a strict upper bound.
        return 'eventType == "%s" and data.amount >= %s and data.amount < %s' % (p[0], _num(p[1]), _num(p[2]))
    if kind == "F4":
        return 'data.tenantId == "%s"' % p
    if kind == "F5":
        return 'eventType like "%s.*" and data."priority" == "high" and metadata.tags contains "%s"' % p
    raise ValueError(kind)


def _num(x):
    return str(int(x)) if float(x).is_integer() else repr(x)


def rule_holds(kind, p, ev):
    t = ev["eventType"]
    d = ev["data"]
    tags = ev["metadata"]["tags"]
    if kind == "F1":
        return t == p[0] and d.get("region") == p[1]
    if kind == "F2":
        return t == p[0] and p[1] in tags
    if kind == "F3":
        a = d.get("amount")
        return t == p[0] and isinstance(a, (int, float)) and p[1] <= a < p[2]
    if kind == "F4":
        return d.get("tenantId") == p[0]
    if kind == "F5":
        return t.startswith(p[0] + ".") and d.get("priority") == "high" and p[1] in tags
    raise ValueError(kind)


SEED_RULES = """# The seed's three rules (rules/routing.rules), topics prefixed for this run and the webhook
# pointed at the harness's local receiver (no traffic leaves the machine).

rule member_events_to_crm {
  description "Member events tagged for CRM sync go to the CRM queue as CRM records"
  when eventType matches /member\\..*/ and metadata.tags contains all ["sync_to_crm"]
  to topic "{P}crm.sync.queue" transform "member_to_crm"
}

rule payment_events_to_finance {
  description "High-value payments go to finance and audit"
  when eventType matches /payment\\..*/ and data.amount >= 1000
  to topic "{P}finance.high_value_transactions"
  to topic "{P}audit.financial_events"
}

rule certification_updates {
  description "Certification lifecycle events go to the updates topic and the certification body"
  when eventType in ["certification.issued", "certification.renewed", "certification.revoked"]
  to topic "{P}certification.updates"
  to webhook "{W}" {
    header "Authorization" = "Bearer dev-token"
  }
}
"""
SEED_TOPICS = ["crm.sync.queue", "finance.high_value_transactions", "audit.financial_events", "certification.updates"]


def seed_outputs(ev):
    """(topic suffixes, webhook count) of the seed's three rules for one event."""
    t = ev["eventType"]
    out = []
    hooks = 0
    if t.startswith("member.") and "sync_to_crm" in ev["metadata"]["tags"]:
        out.append("crm.sync.queue")
    a = ev["data"].get("amount")
    if t.startswith("payment.") and isinstance(a, (int, float)) and a >= 1000:
        out += ["finance.high_value_transactions", "audit.financial_events"]
    if t in ("certification.issued", "certification.renewed", "certification.revoked"):
        out.append("certification.updates")
        hooks = 1
    return out, hooks


def write_rules(out_dir, topic_prefix, webhook, seed=6, count=1000, topics=250, with_generated=True):
    """Writes 00-seed.rules and 10-generated.rules; returns (rules, topic names)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "00-seed.rules"), "w") as f:
        f.write(SEED_RULES.replace("{P}", topic_prefix).replace("{W}", webhook))
    rules = make_rules(seed, count, topics) if with_generated else []
    names = [topic_prefix + s for s in SEED_TOPICS]
    if with_generated:
        with open(os.path.join(out_dir, "10-generated.rules"), "w") as f:
            f.write("# %d generated rules (bench/serve/gen.py), routing to %d topics.\n\n" % (len(rules), topics))
            for name, kind, p, ti in rules:
                f.write('rule %s {\n  when %s\n  to topic "%sr%03d"\n}\n\n' % (name, rule_condition(kind, p), topic_prefix, ti))
        names += ["%sr%03d" % (topic_prefix, k) for k in range(topics)]
    return rules, names


class Expected:
    """expected_outputs() with the rules indexed by family (the harness evaluates every event)."""

    def __init__(self, rules, topic_prefix):
        self.p = topic_prefix
        self.f1, self.f2, self.f3, self.f4, self.f5 = {}, {}, {}, {}, []
        for _, kind, p, ti in rules:
            topic = "%sr%03d" % (topic_prefix, ti)
            if kind == "F1":
                self.f1.setdefault(p, []).append(topic)
            elif kind == "F2":
                self.f2.setdefault(p, []).append(topic)
            elif kind == "F3":
                self.f3.setdefault(p[0], []).append((p[1], p[2], topic))
            elif kind == "F4":
                self.f4.setdefault(p[0], []).append(topic)
            else:
                self.f5.append((kind, p, topic))

    def outputs(self, ev):
        """(set of output topics, webhook deliveries) for one event; identical deliveries are sent once."""
        seed, hooks = seed_outputs(ev)
        out = {self.p + s for s in seed}
        t = ev["eventType"]
        d = ev["data"]
        out.update(self.f1.get((t, d.get("region")), ()))
        for g in ev["metadata"]["tags"]:
            out.update(self.f2.get((t, g), ()))
        a = d.get("amount")
        if isinstance(a, (int, float)):
            for lo, hi, topic in self.f3.get(t, ()):
                if lo <= a < hi:
                    out.add(topic)
        out.update(self.f4.get(d.get("tenantId"), ()))
        for kind, p, topic in self.f5:
            if rule_holds(kind, p, ev):
                out.add(topic)
        return out, hooks


def expected_outputs(ev, rules, topic_prefix):
    """The output topics one event is delivered to (identical deliveries are sent once); slow."""
    seed, hooks = seed_outputs(ev)
    out = {topic_prefix + s for s in seed}
    for _, kind, p, ti in rules:
        if rule_holds(kind, p, ev):
            out.add("%sr%03d" % (topic_prefix, ti))
    return out, hooks


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("events")
    e.add_argument("--out", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--start", type=int, default=0)
    e.add_argument("--id-prefix", default="b0000000")
    e.add_argument("--seed", type=int, default=6)
    r = sub.add_parser("rules")
    r.add_argument("--out", required=True)
    r.add_argument("--topic-prefix", default="bench.")
    r.add_argument("--webhook", default="http://127.0.0.1:18099/webhook")
    r.add_argument("--rules", type=int, default=1000)
    r.add_argument("--topics", type=int, default=250)
    r.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    if a.cmd == "events":
        with open(a.out, "w") as f:
            for i in range(a.start, a.start + a.count):
                f.write(json.dumps(make_event(a.seed, i, a.id_prefix), separators=(",", ":")) + "\n")
    else:
        rules, names = write_rules(a.out, a.topic_prefix, a.webhook, a.seed, a.rules, a.topics)
        print("%d rules, %d topics" % (len(rules) + 3, len(names)), file=sys.stderr)


if __name__ == "__main__":
    main()
