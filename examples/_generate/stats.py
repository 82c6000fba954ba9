"""Print statistics and sanity checks for the example datasets (stdlib only).

Run:  python examples/_generate/stats.py
Exits with status 1 if any check fails.
"""

import json
import os
import re
import statistics
import sys
from collections import Counter

EXAMPLES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []


def load(rel):
    path = os.path.join(EXAMPLES, rel)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                problems.append("%s:%d: blank line" % (rel, n))
                continue
            rows.append(json.loads(line))
    return rows


def check(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def key(row):
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def prompt_of(row):
    return row["prompt"].strip().lower()


def no_dupes(name, rows):
    dup = len(rows) - len({key(r) for r in rows})
    check(dup == 0, "%s: %d exact duplicate rows" % (name, dup))
    if dup:
        print("  %s: %d exact duplicate rows" % (name, dup))
    return dup


def overlap(name, train, evl):
    n = len({prompt_of(r) for r in train} & {prompt_of(r) for r in evl})
    check(n == 0, "%s: %d eval prompts also in train" % (name, n))
    return n


def header(title):
    print(f"\n== {title}")


def triage():
    header("support-triage (SFT classification)")
    with open(os.path.join(EXAMPLES, "support-triage/labels.txt"), encoding="utf-8") as f:
        labels = f.read().split()
    train, evl = load("support-triage/train.jsonl"), load("support-triage/eval.jsonl")
    for name, rows in (("train", train), ("eval", evl)):
        c = Counter(r["completion"] for r in rows)
        dist = ", ".join(
            "%s %d (%.0f%%)" % (lab, c[lab], 100.0 * c[lab] / len(rows)) for lab in labels
        )
        print("%-6s %4d rows  %s" % (name, len(rows), dist))
        check(set(c) <= set(labels), f"triage {name}: unknown labels {set(c) - set(labels)}")
        for lab in labels:
            share = c[lab] / len(rows)
            check(0.12 <= share <= 0.22, f"triage {name}: label {lab} at {100 * share:.1f}%")
        check(
            all(set(r) == {"prompt", "completion"} for r in rows),
            f"triage {name}: unexpected fields",
        )
        no_dupes("triage " + name, rows)
    print("train/eval prompt overlap: %d" % overlap("triage", train, evl))
    check(len(train) >= 420 and len(evl) >= 130, "triage: too few rows")


def validate(obj, schema, path="$"):
    """The subset of JSON Schema that examples/json-extract/schema.json uses."""
    errs = []
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        ok = any(
            (t == "null" and obj is None)
            or (t == "string" and isinstance(obj, str))
            or (t == "integer" and isinstance(obj, int) and not isinstance(obj, bool))
            or (t == "object" and isinstance(obj, dict))
            for t in types
        )
        if not ok:
            return [f"{path}: type {type(obj).__name__} not in {types}"]
    if "enum" in schema and obj not in schema["enum"]:
        errs.append(f"{path}: {obj!r} not in enum")
    if isinstance(obj, str):
        if "pattern" in schema and not re.search(schema["pattern"], obj):
            errs.append(f"{path}: {obj!r} does not match pattern")
        if len(obj) < schema.get("minLength", 0):
            errs.append(f"{path}: too short")
    if isinstance(obj, int) and "minimum" in schema and obj < schema["minimum"]:
        errs.append(f"{path}: below minimum")
    if isinstance(obj, dict):
        for k in schema.get("required", []):
            if k not in obj:
                errs.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in obj.items():
            if k in props:
                errs.extend(validate(v, props[k], path + "." + k))
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}: extra key {k}")
    return errs


def extract():
    header("json-extract (SFT structured output)")
    with open(os.path.join(EXAMPLES, "json-extract/schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    train, evl = load("json-extract/train.jsonl"), load("json-extract/eval.jsonl")
    for name, rows in (("train", train), ("eval", evl)):
        bad = 0
        prio = Counter()
        nulls = Counter()
        for i, r in enumerate(rows, 1):
            obj = json.loads(r["completion"])
            errs = validate(obj, schema)
            if list(obj) != schema["required"]:
                errs.append(f"key order {list(obj)}")
            for k in ("customer_name", "company", "product", "contact_email"):
                if obj.get(k) and obj[k] not in r["prompt"]:
                    errs.append(f"{k} {obj[k]!r} is not written in the message")
            if json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) != r["completion"]:
                errs.append("not compact canonical JSON")
            if errs:
                bad += 1
                problems.append("json-extract %s row %d: %s" % (name, i, "; ".join(errs)))
            prio[obj["priority"]] += 1
            nulls.update(k for k, v in obj.items() if v is None)
        print(
            "%-6s %4d rows  schema-invalid: %d  priority: %s  nulls: %s"
            % (name, len(rows), bad, dict(sorted(prio.items())), dict(sorted(nulls.items())))
        )
        no_dupes("json-extract " + name, rows)
    print("train/eval prompt overlap: %d" % overlap("json-extract", train, evl))
    check(len(train) >= 320 and len(evl) >= 100, "json-extract: too few rows")


def brand():
    header("brand-voice (DPO / ORPO preference pairs)")
    train, evl = load("brand-voice/train.jsonl"), load("brand-voice/eval.jsonl")
    for name, rows in (("train", train), ("eval", evl)):
        ratios = [len(r["chosen"]) / len(r["rejected"]) for r in rows]
        same = sum(r["chosen"] == r["rejected"] for r in rows)
        longer = sum(x > 1 for x in ratios)
        med = statistics.median(ratios)
        print(
            "%-6s %4d rows  median len(chosen)/len(rejected) %.2f  chosen longer in %d%%  identical pairs %d"
            % (name, len(rows), med, 100 * longer // len(rows), same)
        )
        check(same == 0, f"brand-voice {name}: chosen == rejected")
        check(0.8 <= med <= 1.25, f"brand-voice {name}: median length ratio {med:.2f}")
        no_dupes("brand-voice " + name, rows)
    print("train/eval prompt overlap: %d" % overlap("brand-voice", train, evl))
    check(len(train) >= 320 and len(evl) >= 80, "brand-voice: too few rows")


def feedback():
    header("feedback (KTO scored replies)")
    for base in ("thumbs", "ratings"):
        train, evl = load(f"feedback/{base}.jsonl"), load(f"feedback/{base}_eval.jsonl")
        for name, rows in ((base, train), (base + "_eval", evl)):
            if base == "thumbs":
                check(all(isinstance(r["score"], bool) for r in rows), f"{name}: non-bool score")
                good = sum(r["score"] is True for r in rows)
                bad = sum(r["score"] is False for r in rows)
                extra = ""
            else:
                check(
                    all(type(r["score"]) is int and 1 <= r["score"] <= 5 for r in rows),
                    f"{name}: bad score",
                )
                good = sum(r["score"] > 3 for r in rows)
                bad = sum(r["score"] < 3 for r in rows)
                c = Counter(r["score"] for r in rows)
                extra = "  scores: {}".format(", ".join("%d:%d" % (k, c[k]) for k in range(1, 6)))
            ratio = good / bad
            print(
                "%-13s %4d rows  desirable %d  undesirable %d  ratio %.2f%s"
                % (name, len(rows), good, bad, ratio, extra)
            )
            check(1.0 <= ratio <= 1.33, f"{name}: desirable/undesirable ratio {ratio:.2f}")
            no_dupes(name, rows)
            check(len(rows) >= (240 if name == base else 60), f"{name}: too few rows")
        print("%s train/eval prompt overlap: %d" % (base, overlap(base, train, evl)))
    t = {prompt_of(r) for n in ("thumbs", "ratings") for r in load(f"feedback/{n}.jsonl")}
    e = {prompt_of(r) for n in ("thumbs_eval", "ratings_eval") for r in load(f"feedback/{n}.jsonl")}
    print("any eval prompt in any train file: %d" % len(t & e))
    check(not (t & e), "feedback: eval prompts in train files")


def size():
    total = 0
    for root, _, files in os.walk(EXAMPLES):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    header("size")
    print("examples/ total %.2f MB" % (total / 1e6))
    check(total < 2.2e6, "examples/ is over ~2 MB")


def main():
    triage()
    extract()
    brand()
    feedback()
    size()
    print()
    if problems:
        print("PROBLEMS (%d):" % len(problems))
        for p in problems[:50]:
            print("  " + p)
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
