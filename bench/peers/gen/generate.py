#!/usr/bin/env python3
"""Deterministic generator of peer-benchmark rule sets and events (Python 3 stdlib only).

    generate.py --out DIR [--seed 4] [--events 100000] [--rules 100,1000,10000,100000]

Writes, into DIR:
  events-<E>.jsonl            E events of about 1 KB, one JSON object per line, the seed's envelope
                              shape (event i depends only on (seed, i): a smaller file is a prefix
                              of a larger one)
  rules-<N>/patterns.jsonl    one line per rule: {"name", "pattern" (EventBridge event pattern),
                              "features": [...]}; a driver that cannot express a feature skips
                              the rule and says so (Quamina has no numeric ranges)
  rules-<N>/dsl/part-XXXX.rules   the same rules in the switchboard DSL, 1,000 rules a file
  rules-<N>/manifest.json     counts per feature and per condition kind
  rules-<N>-common/           the same, without the rules that have a numeric condition (the
                              subset that Quamina, which has no numeric ranges, expresses too)

Every rule is written so that the DSL and EventBridge mean exactly the same thing on the events
generated here (see README.md, "The pattern subset"):
  - each rule constrains each field at most once (EventBridge cannot AND two conditions on one
    field, except a numeric range, which is written with `between`, a single predicate);
  - numeric conditions only on fields that are JSON numbers when present (plus a few deliberate
    string-valued amounts, on which both sides are false);
  - `metadata.tags` is always an array: DSL `contains` = EventBridge array membership;
  - at most one condition under `data.items` (EventBridge engines require one array element to
    satisfy all conditions under an array; the DSL lets different elements satisfy them);
  - `exists` / `not exists` and `not in` only on fields that, when present, are non-null strings
    and never arrays;
  - globs have `*` only (no `?`, no escapes) and no `**`;
  - no regex: EventBridge has none (its `wildcard` is the glob).
"""
import argparse
import json
import os
import random
import sys

# --- the seed's event-type taxonomy ------------------------------------------------------------
TAXONOMY = {
    "member": [
        "member.created", "member.activated", "member.suspended", "member.reactivated",
        "member.terminated", "member.profile.updated", "member.contact.changed",
        "member.preferences.updated", "member.consent.granted", "member.consent.revoked",
        "member.membership.renewed", "member.membership.upgraded", "member.membership.downgraded",
        "member.membership.expired", "member.membership.cancelled",
    ],
    "payment": [
        "payment.initiated", "payment.authorized", "payment.captured", "payment.failed",
        "payment.refunded", "payment.subscription.created", "payment.subscription.updated",
        "payment.subscription.cancelled", "payment.subscription.renewed",
    ],
    "certification": [
        "certification.applied", "certification.approved", "certification.issued",
        "certification.renewed", "certification.expired", "certification.revoked",
        "certification.credits.earned", "certification.course.completed",
        "certification.exam.passed", "certification.exam.failed",
    ],
    "system": [
        "system.user.login", "system.user.logout", "system.permission.granted",
        "system.permission.revoked", "system.data.exported", "system.sync.started",
        "system.sync.completed", "system.sync.failed", "system.webhook.delivered",
        "system.webhook.failed",
    ],
}
DOMAIN_WEIGHT = {"member": 3, "payment": 4, "certification": 2, "system": 3}
ALL_TYPES = [t for d in TAXONOMY for t in TAXONOMY[d]]
TYPE_PREFIXES = sorted({".".join(t.split(".")[:k]) + "." for t in ALL_TYPES for k in (1, 2)
                        if len(t.split(".")) > k})
# globs in the `like` / `wildcard` form (a single star, or a star at each end of a segment run)
GLOBS = ["*.failed", "*.updated", "*.renewed", "*.revoked", "member.*.updated", "payment.*.cancelled",
         "system.*.failed", "certification.*.passed", "member.membership.*", "*.subscription.*",
         "system.user.*", "*.granted"]

TAGS = ["profile", "update", "manual", "sync_to_crm", "synthetic", "vip", "bulk", "api", "retry",
        "priority", "gdpr", "pci", "audit", "batch", "realtime", "internal", "partner", "trial",
        "migrated", "flagged", "chapter_lead", "renewal_campaign", "high_risk", "beta"]
TAG_WEIGHTS = [9, 8, 5, 6, 2, 3, 2, 7, 2, 3, 3, 4, 5, 2, 4, 3, 2, 2, 1, 1, 1, 2, 1, 1]
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF"]
CURRENCY_WEIGHTS = [10, 6, 3, 2, 1, 1, 1]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "AU", "NL", "SE", "JP", "BR", "IN", "ES", "IT", "MX", "IE"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1"]
CHANNELS = ["web", "mobile", "api", "batch", "partner", "backoffice"]
PAY_METHODS = ["card", "ach", "sepa", "paypal", "wire", "apple_pay"]
CARD_BRANDS = ["visa", "mastercard", "amex", "discover"]
PLANS = ["basic", "standard", "pro", "enterprise", "student", "lifetime"]
SERVICES = {"member": ["member-service", "crm-connector", "portal-bff"],
            "payment": ["payment-service", "billing-service", "stripe-connector"],
            "certification": ["certification-service", "lms-connector", "exam-service"],
            "system": ["auth-service", "sync-service", "webhook-service", "export-service"]}
ALL_SERVICES = [s for d in SERVICES for s in SERVICES[d]]
N_TENANTS = 5000
N_SKUS = 2000
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu member "
         "renewal chapter invoice course exam credit audit sync portal ledger").split()


def tenant(i):
    return "tn-%05d" % i


def sku(i):
    return "SKU-%05d" % (10000 + i)


def skewed_index(rnd, n):
    # heavier at low indexes (a few large tenants, a long tail), deterministic
    return min(n - 1, int(n * (rnd.random() ** 2.2)))


def money(rnd):
    # log-uniform 0.50 .. 50,000.00, two decimals
    v = 10 ** rnd.uniform(-0.3, 4.7)
    return round(v, 2)


def filler(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def make_event(seed, i):
    rnd = random.Random("%s:event:%d" % (seed, i))
    domain = rnd.choices(list(DOMAIN_WEIGHT), weights=list(DOMAIN_WEIGHT.values()))[0]
    etype = rnd.choice(TAXONOMY[domain])
    ten = skewed_index(rnd, N_TENANTS)
    subj_type = {"member": "member", "payment": "member", "certification": "certification",
                 "system": "user"}[domain]
    subj_id = {"member": "mem_%d", "certification": "cert_%d", "user": "usr_%d"}[subj_type] % rnd.randrange(1, 10 ** 6)
    alt = {"legacyId": "L%05d" % rnd.randrange(10 ** 5)}
    if rnd.random() < 0.6:
        alt["crmId"] = "C%05d" % rnd.randrange(10 ** 5)
    ntags = rnd.choices([0, 1, 2, 3, 4, 5], weights=[1, 4, 6, 5, 3, 1])[0]
    tags = []
    for t in rnd.choices(TAGS, weights=TAG_WEIGHTS, k=ntags):
        if t not in tags:
            tags.append(t)
    meta = {
        "correlationId": "corr_%012x" % rnd.getrandbits(48),
        "causationId": "evt_%012x" % rnd.getrandbits(48),
        "userId": "usr_%d" % rnd.randrange(1, 10 ** 6),
    }
    if rnd.random() < 0.7:
        meta["sessionId"] = "sess_%010x" % rnd.getrandbits(40)
    meta.update({
        "traceId": "trace_%016x" % rnd.getrandbits(64),
        "tenantId": tenant(ten),
        "region": rnd.choice(REGIONS),
        "channel": rnd.choice(CHANNELS),
        "tags": tags,
    })
    data = {}
    if domain == "payment":
        amount = money(rnd)
        data["paymentId"] = "pay_%010x" % rnd.getrandbits(40)
        # a few producers send the amount as a string: numeric conditions are false on it
        data["amount"] = ("%.2f" % amount) if rnd.random() < 0.02 else amount
        data["currency"] = rnd.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0]
        data["paymentMethod"] = rnd.choice(PAY_METHODS)
        if data["paymentMethod"] in ("card", "apple_pay"):
            data["card"] = {"brand": rnd.choice(CARD_BRANDS), "last4": "%04d" % rnd.randrange(10000),
                            "expMonth": rnd.randrange(1, 13), "expYear": rnd.randrange(2025, 2032)}
        data["country"] = rnd.choice(COUNTRIES)
        data["recurring"] = rnd.random() < 0.3
        if rnd.random() < 0.15:
            data["promoCode"] = "PROMO%d" % rnd.randrange(100)
        items = []
        for _ in range(rnd.choices([0, 1, 2, 3, 4], weights=[1, 5, 3, 2, 1])[0]):
            items.append({"sku": sku(skewed_index(rnd, N_SKUS)), "qty": rnd.randrange(1, 6),
                          "unitPrice": money(rnd)})
        data["items"] = items
        if etype == "payment.failed":
            data["failureCode"] = rnd.choice(["card_declined", "insufficient_funds", "expired_card",
                                              "processing_error", "fraud_suspected"])
    elif domain == "member":
        data["memberNumber"] = "M%07d" % rnd.randrange(10 ** 7)
        data["plan"] = rnd.choice(PLANS)
        data["country"] = rnd.choice(COUNTRIES)
        data["chapter"] = "chapter-%03d" % rnd.randrange(120)
        data["lifetimeValue"] = money(rnd)
        data["changes"] = {"email": "user%d@example.org" % rnd.randrange(10 ** 6),
                           "phone": "+1-555-%04d" % rnd.randrange(10000)}
        data["previousValues"] = {"email": "old%d@example.org" % rnd.randrange(10 ** 6)}
        data["consents"] = rnd.sample(["email", "sms", "post", "phone", "partners"], rnd.randrange(0, 4))
        if etype.endswith("cancelled") or etype.endswith("terminated"):
            data["cancelReason"] = rnd.choice(["price", "moved", "no_longer_needed", None])
    elif domain == "certification":
        data["certificationId"] = "CERT-%05d" % rnd.randrange(10 ** 5)
        data["program"] = rnd.choice(["CAP", "CPP", "CIA", "CISA", "PMP", "CSM"])
        data["credits"] = rnd.randrange(0, 41)
        data["score"] = round(rnd.uniform(20, 100), 1)
        data["courseId"] = "course-%04d" % rnd.randrange(3000)
        data["country"] = rnd.choice(COUNTRIES)
        data["examAttempts"] = rnd.randrange(1, 4)
    else:
        data["ipAddress"] = "10.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))
        data["resource"] = rnd.choice(["/api/members", "/api/payments", "/export/csv", "/sync/crm",
                                       "/webhooks/cert-body"])
        data["durationMs"] = rnd.randrange(1, 30000)
        data["status"] = rnd.choice(["ok", "ok", "ok", "error", "timeout"])
        data["attempt"] = rnd.randrange(1, 9)
    service = rnd.choice(SERVICES[domain])
    ev = {
        "eventId": "evt_%08x-%04x-%04x-%04x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                                      rnd.getrandbits(16), rnd.getrandbits(16),
                                                      rnd.getrandbits(48)),
        "eventType": etype,
        "eventVersion": rnd.choice(["1.0", "2.0", "2.0", "2.1"]),
        "eventTime": "2024-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            rnd.randrange(1, 13), rnd.randrange(1, 29), rnd.randrange(24), rnd.randrange(60),
            rnd.randrange(60), rnd.randrange(1000)),
        "producer": {"service": service,
                     "instance": "%s-pod-%06x" % (service, rnd.getrandbits(24)),
                     "version": "%d.%d.%d" % (rnd.randrange(1, 5), rnd.randrange(10), rnd.randrange(20))},
        "subject": {"type": subj_type, "id": subj_id, "alternateIds": alt},
        "data": data,
        "metadata": meta,
        "dataVersion": "1.0",
        "dataContentType": "application/json",
    }
    # pad to about 1 KB with a free-text note (never referenced by a rule)
    size = len(json.dumps(ev, separators=(",", ":")))
    target = rnd.randrange(900, 1150)
    if size < target:
        note = filler(rnd, max(1, (target - size - 12) // 6))
        data["note"] = note[:max(1, target - size - 12)]
    return ev


# --- conditions ---------------------------------------------------------------------------------
class Cond:
    """One predicate, rendered both ways. kind in: eq, in, prefix, glob, ge, lt, between, exists,
    absent, notin, tag, tagin."""

    def __init__(self, path, kind, value):
        self.path, self.kind, self.value = path, kind, value

    @property
    def feature(self):
        return {"eq": "exact", "in": "exact", "tag": "exact", "tagin": "exact", "prefix": "prefix",
                "glob": "wildcard", "ge": "numeric", "lt": "numeric", "between": "numeric",
                "exists": "exists", "absent": "exists", "notin": "anything-but"}[self.kind]

    def dsl(self):
        p, k, v = self.path, self.kind, self.value
        lit = lambda x: json.dumps(x)
        if k == "eq":
            return "%s == %s" % (p, lit(v))
        if k == "in":
            return "%s in [%s]" % (p, ", ".join(lit(x) for x in v))
        if k == "tag":
            return "%s contains %s" % (p, lit(v))
        if k == "tagin":
            return "%s in [%s]" % (p, ", ".join(lit(x) for x in v))
        if k == "prefix":
            return "%s starts_with %s" % (p, lit(v))
        if k == "glob":
            return "%s like %s" % (p, lit(v))
        if k == "ge":
            return "%s >= %s" % (p, num(v))
        if k == "lt":
            return "%s < %s" % (p, num(v))
        if k == "between":
            return "%s between %s and %s" % (p, num(v[0]), num(v[1]))
        if k == "exists":
            return "exists %s" % p
        if k == "absent":
            return "not exists %s" % p
        if k == "notin":
            return ("%s != %s" % (p, lit(v[0]))) if len(v) == 1 else \
                "%s not in [%s]" % (p, ", ".join(lit(x) for x in v))
        raise ValueError(k)

    def eb(self):
        k, v = self.kind, self.value
        if k in ("eq", "tag"):
            return [v]
        if k in ("in", "tagin"):
            return list(v)
        if k == "prefix":
            return [{"prefix": v}]
        if k == "glob":
            return [{"wildcard": v}]
        if k == "ge":
            return [{"numeric": [">=", v]}]
        if k == "lt":
            return [{"numeric": ["<", v]}]
        if k == "between":
            return [{"numeric": [">=", v[0], "<=", v[1]]}]
        if k == "exists":
            return [{"exists": True}]
        if k == "absent":
            return [{"exists": False}]
        if k == "notin":
            return [{"anything-but": list(v)}]
        raise ValueError(k)


def num(x):
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def to_pattern(conds):
    pat = {}
    for c in conds:
        segs = c.path.split(".")
        node = pat
        for s in segs[:-1]:
            node = node.setdefault(s, {})
        assert segs[-1] not in node, c.path
        node[segs[-1]] = c.eb()
    return pat


AMOUNT_THRESHOLDS = [10, 50, 99.99, 100, 250, 500, 1000, 2500, 5000, 10000, 25000]
AMOUNT_RANGES = [(0, 50), (50, 250), (100, 1000), (250.5, 999.99), (1000, 5000), (5000, 50000)]


def pick_tags(rnd, k):
    out = []
    while len(out) < k:
        t = rnd.choices(TAGS, weights=TAG_WEIGHTS)[0]
        if t not in out:
            out.append(t)
    return out


def extra_condition(rnd, domain, used):
    """A second/third condition on a field not yet used by the rule."""
    options = []
    if domain in ("payment", None):
        options += [("data.amount", 5), ("data.currency", 3), ("data.paymentMethod", 2),
                    ("data.items.sku", 1), ("data.recurring", 1), ("data.promoCode", 1),
                    ("data.card.brand", 1)]
    if domain == "member":
        options += [("data.plan", 3), ("data.lifetimeValue", 2), ("data.chapter", 1)]
    if domain == "certification":
        options += [("data.program", 3), ("data.credits", 2), ("data.score", 2)]
    if domain == "system":
        options += [("data.status", 3), ("data.durationMs", 2), ("data.resource", 2)]
    if domain in ("member", "payment", "certification", None):
        options += [("data.country", 2)]
    options += [("metadata.tags", 6), ("metadata.region", 2), ("metadata.channel", 2),
                ("subject.alternateIds.crmId", 2), ("metadata.sessionId", 1),
                ("producer.service", 2), ("eventVersion", 1), ("producer.instance", 1)]
    options = [(p, w) for p, w in options if p not in used]
    path = rnd.choices([p for p, _ in options], weights=[w for _, w in options])[0]
    r = rnd.random()
    if path == "data.amount":
        if r < 0.45:
            return Cond(path, "ge", rnd.choice(AMOUNT_THRESHOLDS))
        if r < 0.6:
            return Cond(path, "lt", rnd.choice(AMOUNT_THRESHOLDS))
        return Cond(path, "between", rnd.choice(AMOUNT_RANGES))
    if path == "data.lifetimeValue":
        return Cond(path, "ge", rnd.choice(AMOUNT_THRESHOLDS))
    if path == "data.credits":
        return Cond(path, "between", tuple(sorted(rnd.sample(range(0, 41), 2))))
    if path == "data.score":
        return Cond(path, "ge" if r < 0.7 else "lt", rnd.choice([50, 60, 70, 75.5, 80, 90]))
    if path == "data.durationMs":
        return Cond(path, "ge", rnd.choice([100, 1000, 5000, 10000, 20000]))
    if path == "data.currency":
        if r < 0.5:
            return Cond(path, "eq", rnd.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0])
        if r < 0.85:
            return Cond(path, "in", rnd.sample(CURRENCIES, rnd.randrange(2, 4)))
        return Cond(path, "notin", rnd.sample(CURRENCIES, rnd.randrange(1, 3)))
    if path == "data.paymentMethod":
        return Cond(path, "in" if r < 0.5 else "eq",
                    rnd.sample(PAY_METHODS, 2) if r < 0.5 else rnd.choice(PAY_METHODS))
    if path == "data.card.brand":
        return Cond(path, "eq", rnd.choice(CARD_BRANDS))
    if path == "data.items.sku":
        if r < 0.8:
            return Cond(path, "eq", sku(skewed_index(rnd, N_SKUS)))
        return Cond(path, "prefix", "SKU-1%d" % rnd.randrange(10))
    if path == "data.recurring":
        return Cond(path, "eq", r < 0.5)
    if path == "data.promoCode":
        return Cond(path, "exists" if r < 0.6 else "absent", None)
    if path == "data.plan":
        if r < 0.6:
            return Cond(path, "eq", rnd.choice(PLANS))
        if r < 0.85:
            return Cond(path, "in", rnd.sample(PLANS, 2))
        return Cond(path, "notin", [rnd.choice(PLANS)])
    if path == "data.chapter":
        return Cond(path, "eq", "chapter-%03d" % rnd.randrange(120))
    if path == "data.program":
        return Cond(path, "in" if r < 0.4 else "eq",
                    rnd.sample(["CAP", "CPP", "CIA", "CISA", "PMP", "CSM"], 2) if r < 0.4
                    else rnd.choice(["CAP", "CPP", "CIA", "CISA", "PMP", "CSM"]))
    if path == "data.status":
        return Cond(path, "eq" if r < 0.7 else "notin", rnd.choice(["ok", "error", "timeout"])
                    if r < 0.7 else ["ok"])
    if path == "data.resource":
        return Cond(path, "prefix", rnd.choice(["/api/", "/export/", "/sync/", "/webhooks/"]))
    if path == "data.country":
        if r < 0.5:
            return Cond(path, "eq", rnd.choice(COUNTRIES))
        if r < 0.9:
            return Cond(path, "in", rnd.sample(COUNTRIES, rnd.randrange(2, 5)))
        return Cond(path, "notin", rnd.sample(COUNTRIES, 2))
    if path == "metadata.tags":
        if r < 0.75:
            return Cond(path, "tag", pick_tags(rnd, 1)[0])
        return Cond(path, "tagin", pick_tags(rnd, rnd.randrange(2, 4)))
    if path == "metadata.region":
        if r < 0.5:
            return Cond(path, "eq", rnd.choice(REGIONS))
        return Cond(path, "prefix", rnd.choice(["us-", "eu-", "ap-"]))
    if path == "metadata.channel":
        if r < 0.6:
            return Cond(path, "eq", rnd.choice(CHANNELS))
        if r < 0.85:
            return Cond(path, "in", rnd.sample(CHANNELS, 2))
        return Cond(path, "notin", rnd.sample(CHANNELS, 2))
    if path == "subject.alternateIds.crmId":
        if r < 0.5:
            return Cond(path, "exists", None)
        if r < 0.7:
            return Cond(path, "absent", None)
        return Cond(path, "prefix", "C%d" % rnd.randrange(10))
    if path == "metadata.sessionId":
        return Cond(path, "exists" if r < 0.5 else "absent", None)
    if path == "producer.service":
        if r < 0.6:
            return Cond(path, "eq", rnd.choice(ALL_SERVICES))
        return Cond(path, "notin", rnd.sample(ALL_SERVICES, 2))
    if path == "eventVersion":
        return Cond(path, "eq" if r < 0.6 else "in", rnd.choice(["1.0", "2.0", "2.1"])
                    if r < 0.6 else ["2.0", "2.1"])
    if path == "producer.instance":
        svc = rnd.choice(ALL_SERVICES)
        return Cond(path, "glob", "%s-pod-*" % svc) if r < 0.6 else Cond(path, "prefix", svc + "-pod-")
    raise AssertionError(path)


def type_anchor(rnd):
    """A condition on eventType, and the domain it pins down (None when several)."""
    r = rnd.random()
    if r < 0.55:
        t = rnd.choice(ALL_TYPES)
        return Cond("eventType", "eq", t), t.split(".")[0]
    if r < 0.75:
        d = rnd.choice(list(TAXONOMY))
        return Cond("eventType", "in", rnd.sample(TAXONOMY[d], rnd.randrange(2, 5))), d
    if r < 0.92:
        p = rnd.choice(TYPE_PREFIXES)
        return Cond("eventType", "prefix", p), p.split(".")[0]
    g = rnd.choice(GLOBS)
    d = g.split(".")[0]
    return Cond("eventType", "glob", g), (d if d in TAXONOMY else None)


def make_rule(seed, n, i):
    """Rule i of the n-rule set. Broad rules (routing by type, tags, amounts) are a bounded share;
    the rest are per-tenant / per-SKU routes, as large rule sets are in practice, so that the
    matches per event stay realistic as the set grows."""
    rnd = random.Random("%s:rules:%d:%d" % (seed, n, i))
    n_broad = min(n, max(30, min(500, n * 3 // 10)))
    conds, used = [], set()
    if i < n_broad:
        shape = rnd.random()
        if shape < 0.75:
            c, domain = type_anchor(rnd)
            conds.append(c)
        elif shape < 0.9:
            domain = None
            conds.append(Cond("metadata.tags", "tag", pick_tags(rnd, 1)[0]))
        else:
            domain = "payment"
            conds.append(Cond("data.amount", "ge", rnd.choice(AMOUNT_THRESHOLDS[5:])))
        used.update(c.path for c in conds)
        for _ in range(rnd.choices([0, 1, 2], weights=[3, 5, 2])[0]):
            c = extra_condition(rnd, domain, used)
            conds.append(c)
            used.add(c.path)
    else:
        if rnd.random() < 0.8:
            conds.append(Cond("metadata.tenantId", "eq" if rnd.random() < 0.9 else "in",
                              tenant(rnd.randrange(N_TENANTS))))
            if conds[0].kind == "in":
                conds[0].value = [tenant(rnd.randrange(N_TENANTS)) for _ in range(3)]
            domain = None
        else:
            conds.append(Cond("data.items.sku", "eq", sku(rnd.randrange(N_SKUS))))
            domain = "payment"
        used.add(conds[0].path)
        if rnd.random() < 0.7:
            c, d = type_anchor(rnd)
            if domain == "payment" and d not in ("payment", None):
                c, d = Cond("eventType", "prefix", "payment."), "payment"
            conds.append(c)
            used.add("eventType")
            domain = domain or d
        for _ in range(rnd.choices([0, 1, 2], weights=[4, 4, 2])[0]):
            c = extra_condition(rnd, domain, used)
            conds.append(c)
            used.add(c.path)
    return conds


class RuleSetWriter:
    """patterns.jsonl + dsl/part-XXXX.rules (1,000 rules a file) + manifest.json in one dir."""

    def __init__(self, d, seed, label):
        self.d, self.seed, self.label = d, seed, label
        os.makedirs(os.path.join(d, "dsl"), exist_ok=True)
        self.pf = open(os.path.join(d, "patterns.jsonl.tmp"), "w")
        self.fh, self.count, self.feats, self.kinds = None, 0, {}, {}

    def add(self, name, conds):
        if self.count % 1000 == 0:
            if self.fh:
                self.fh.close()
            self.fh = open(os.path.join(self.d, "dsl", "part-%04d.rules" % (self.count // 1000)), "w")
            self.fh.write("# generated by bench/peers/gen/generate.py (seed %s, %s)\n"
                          % (self.seed, self.label))
        self.count += 1
        self.fh.write("rule %s {\n  when %s\n  to topic \"t.%s\"\n}\n"
                      % (name, "\n   and ".join(c.dsl() for c in conds), name))
        fs = sorted({c.feature for c in conds})
        for f in fs:
            self.feats[f] = self.feats.get(f, 0) + 1
        for c in conds:
            self.kinds[c.kind] = self.kinds.get(c.kind, 0) + 1
        self.pf.write(json.dumps({"name": name, "pattern": to_pattern(conds), "features": fs},
                                 separators=(",", ":")) + "\n")

    def close(self):
        if self.fh:
            self.fh.close()
        self.pf.close()
        with open(os.path.join(self.d, "manifest.json"), "w") as mf:
            json.dump({"seed": self.seed, "set": self.label, "rules": self.count,
                       "rules_with_feature": self.feats, "conditions": self.kinds},
                      mf, indent=1, sort_keys=True)
        os.replace(os.path.join(self.d, "patterns.jsonl.tmp"), os.path.join(self.d, "patterns.jsonl"))


def write_rules(seed, n, out):
    """rules-N: all N rules. rules-N-common: the same rules minus those with a numeric condition
    (the subset Quamina can express too; same names), for a like-for-like three-way run."""
    full = RuleSetWriter(os.path.join(out, "rules-%d" % n), seed, "%d rules" % n)
    common = RuleSetWriter(os.path.join(out, "rules-%d-common" % n), seed,
                           "the rules of the %d-rule set without numeric conditions" % n)
    for i in range(n):
        conds = make_rule(seed, n, i)
        full.add("r%d" % i, conds)
        if all(c.feature != "numeric" for c in conds):
            common.add("r%d" % i, conds)
    common.close()
    full.close()


def write_events(seed, count, out):
    path = os.path.join(out, "events-%d.jsonl" % count)
    if os.path.exists(path):
        return path
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for i in range(count):
            f.write(json.dumps(make_event(seed, i), separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", default="4")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--rules", default="100,1000,10000,100000")
    ap.add_argument("--force", action="store_true", help="regenerate even if present")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp = os.path.join(a.out, "SEED")
    if os.path.exists(stamp) and open(stamp).read().strip() != str(a.seed):
        a.force = True
    if a.force:
        for name in os.listdir(a.out):
            if name.startswith("events-"):
                os.remove(os.path.join(a.out, name))
            if name.startswith("rules-"):
                import shutil
                shutil.rmtree(os.path.join(a.out, name))
    with open(stamp, "w") as f:
        f.write(str(a.seed))
    write_events(a.seed, a.events, a.out)
    for n in [int(x) for x in a.rules.split(",") if x]:
        if not all(os.path.exists(os.path.join(a.out, d, "patterns.jsonl"))
                   for d in ("rules-%d" % n, "rules-%d-common" % n)):
            write_rules(a.seed, n, a.out)
    print("generated into %s" % a.out, file=sys.stderr)


if __name__ == "__main__":
    main()
