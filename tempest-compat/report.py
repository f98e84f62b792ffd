"""Summarise a tempest run and compare it with expected-pass.txt.

Usage: python report.py --subunit RESULTS.subunit --list TESTS.txt --expected expected-pass.txt
                        [--passed-out PASSED.txt]

RESULTS.subunit: `stestr last --subunit`; TESTS.txt: `tempest run --list-tests` (the tests
selected, so tests that never ran because their class set-up failed are counted too).
Test ids are compared without their "[id-...,attrs]" suffix.
Prints pass/fail/skip/not-run per module, the totals, and the comparison with the expected
list; exits 1 when an expected test did not pass, 0 otherwise (unexpected passes are only
reported).
"""
import argparse
import collections
import re
import sys

import subunit
import testtools

SUFFIX = re.compile(r"\[.*\]$")
CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((.+)\)$")
PREFIX = "barbican_tempest_plugin.tests."


def plain(test_id):
    return SUFFIX.sub("", test_id.strip())


def module_of(test_id):
    parts = test_id.split(".")
    return ".".join(parts[:-2]) if len(parts) > 2 else test_id


def short(name):
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def read_results(path):
    statuses = {}
    fixture_failures = {}  # class path -> "setUpClass"/"tearDownClass" that failed
    class_skips = set()  # classes whose setUpClass skipped (skip_checks)

    def on_test(test):
        tid = test["id"]
        status = test["status"]
        m = CLASS_FIXTURE.match(tid)
        if m:
            if status == "skip":
                class_skips.add(plain(m.group(2)))
            elif status != "success":
                fixture_failures[plain(m.group(2))] = m.group(1)
            return
        statuses[plain(tid)] = status

    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return statuses, fixture_failures, class_skips


def read_ids(path):
    ids = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                ids.append(plain(line))
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--subunit", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--passed-out")
    args = ap.parse_args()

    statuses, fixture_failures, class_skips = read_results(args.subunit)
    selected = [t for t in read_ids(args.list) if "." in t]
    universe = list(dict.fromkeys(selected + sorted(statuses)))

    def outcome(tid):
        st = statuses.get(tid)
        if st in ("success", "xfail"):
            return "pass"
        if st == "skip" or (st is None and tid.rsplit(".", 1)[0] in class_skips):
            return "skip"
        if st in ("fail", "uxsuccess"):
            return "fail"
        return "notrun"

    per_module = collections.OrderedDict()
    totals = collections.Counter()
    for tid in sorted(universe):
        o = outcome(tid)
        per_module.setdefault(module_of(tid), collections.Counter())[o] += 1
        totals[o] += 1

    width = max([len(short(m)) for m in per_module] + [10])
    print(f"{'module':<{width}}  pass  fail  skip  not-run")
    for mod, c in per_module.items():
        print(f"{short(mod):<{width}}  {c['pass']:>4}  {c['fail']:>4}  {c['skip']:>4}  {c['notrun']:>7}")
    print(f"{'total':<{width}}  {totals['pass']:>4}  {totals['fail']:>4}  {totals['skip']:>4}"
          f"  {totals['notrun']:>7}   ({len(universe)} tests)")
    if fixture_failures:
        print(f"class set-up/tear-down failures: {len(fixture_failures)} "
              f"(their tests count as not-run)")
        for cls, kind in sorted(fixture_failures.items()):
            print(f"  {kind}: {short(cls)}")

    passed = sorted(t for t in universe if outcome(t) == "pass")
    if args.passed_out:
        with open(args.passed_out, "w") as f:
            f.write("".join(t + "\n" for t in passed))

    expected = read_ids(args.expected)
    missing = [t for t in expected if outcome(t) != "pass"]
    exp_set = set(expected)
    unexpected = [t for t in passed if t not in exp_set]
    if unexpected:
        print(f"unexpected passes (not in expected-pass.txt): {len(unexpected)}")
        for t in unexpected:
            print(f"  + {t}")
    if missing:
        print(f"REGRESSIONS: {len(missing)} expected test(s) did not pass:")
        for t in missing:
            print(f"  - {t}: {outcome(t)}")
    print(f"tempest-compat: expected passes held {len(expected) - len(missing)}/{len(expected)};"
          f" unexpected passes {len(unexpected)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
