"""Compares provider binaries on one point of `make bench`'s cost curve, A/B without the
machine's drift: the binaries run in ABBA order (an AB run here showed bare CREATE DATABASE
slowing from 28 to 46 ms over ten minutes, which penalised whichever binary ran second).

    CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target x86_64-unknown-linux-musl
    cp target/x86_64-unknown-linux-musl/release/terraform-provider-dbaas /tmp/provider-new
    (build the other commit the same way, in a worktree, to /tmp/provider-old)
    AB_N=50 AB_ROUNDS=4 .tools/venv/bin/python scripts/bench-ab.py /tmp/provider-old /tmp/provider-new

Each run is bench.py's curve_point with one run (BENCH_CURVE_RUNS=1) and without its 35 s
wait for Vault's idle connections; the binary under test is copied where bench.py looks.
Prints each run (net = the run less Terraform's own at the same shape, ms per database) and
each binary's medians. Run it on a quiet machine: a build or a test run beside it skews it.
"""
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "bench.py")

os.environ["BENCH_CURVE_RUNS"] = "1"
source = open(BENCH).read().replace("time.sleep(35)", "pass")
source = source[: source.rstrip().rfind("main()")]
bench = {"__name__": "bench_ab", "__file__": BENCH}
exec(compile(source, BENCH, "exec"), bench)

binaries = sys.argv[1:]
if len(binaries) < 2:
    sys.exit("usage: bench-ab.py <binary A> <binary B> [...]")
n = int(os.environ.get("AB_N", "50"))
rounds = int(os.environ.get("AB_ROUNDS", "4"))
results = {b: {"apply": [], "destroy": [], "plan": [], "apply/bare": [], "destroy/bare": []} for b in binaries}
# The build bench.py looks for is put back at the end: cargo would take a copied-over
# binary for its own fresh output, and a later `make bench` would measure the wrong one.
kept = bench["BINARY"] + ".bench-ab-kept"
if os.path.exists(bench["BINARY"]):
    shutil.copy2(bench["BINARY"], kept)


def run_rounds(tmp):
    for r in range(rounds):
        for b in binaries if r % 2 == 0 else binaries[::-1]:
            shutil.copy(b, bench["BINARY"])
            p = bench["curve_point"](tmp, n)
            apply_net = 1000 * (p["apply"] - p["tf_apply"]) / n
            destroy_net = 1000 * (p["destroy"] - p["tf_destroy"]) / n
            bare_create, bare_drop = 1000 * p["bare_create"] / n, 1000 * p["bare_drop"] / n
            plan = 1000 * p["plan"] / n / 2
            for key, value in (("apply", apply_net), ("destroy", destroy_net), ("plan", plan),
                               ("apply/bare", apply_net / bare_create), ("destroy/bare", destroy_net / bare_drop)):
                results[b][key].append(value)
            print("round %d %s: apply net %.1f ms/db (bare %.1f), destroy net %.1f (bare %.1f), plan %.2f ms/res, "
                  "conns %d" % (r, os.path.basename(b), apply_net, bare_create, destroy_net, bare_drop, plan,
                                p["provider_connections"]), flush=True)


try:
    with tempfile.TemporaryDirectory(prefix="dbaas-ab-") as tmp:
        run_rounds(tmp)
finally:
    if os.path.exists(kept):
        shutil.move(kept, bench["BINARY"])
    elif os.path.exists(bench["BINARY"]):
        os.remove(bench["BINARY"])

for b in binaries:
    print("%s: medians: %s" % (b, ", ".join("%s %.2f" % (k, statistics.median(v)) for k, v in results[b].items())))
