"""The provider's benchmarks, on the binary a release ships (static musl), in one run.

Provider (issues 2 and 9):
1. provider start to handshake line (median of 30 starts);
2. peak RSS of one provider process (VmHWM, sampled from /proc while Terraform drives it);
3. `terraform plan` wall time, 1 and 200 `dbaas_endpoints` data sources against as many
   `terraform_data` resources (Terraform's own floor), interleaved, medians of 9.
   Targets (issue 9): RSS <= 6 MiB; ratios <= 1.2 (1) and <= 1.15 (200).

The cost curve of dbaas_shared_database (issue 9), against the local PostgreSQL and OpenBao,
for N = 10, 50, 200 and 500 databases, each with a dynamic dbaas_rotated_role:
4. apply, no-change plan and destroy, per database, against bare DDL at the same N in the
   same run: CREATE DATABASE + 3 CREATE ROLE, and DROP DATABASE (+ the roles), one session;
   three runs of each, alternating, reported as medians with the ratios' run-by-run range;
   and Terraform's own time at the same shape (N pairs of terraform_data), which grows with
   the size of the state whatever the provider: ratios compare the provider's net time
   (the run less Terraform's own) with the bare DDL;
5. the most connections one provider process held (pg_stat_activity by application_name);
6. the connections Vault held through the connections the provider configured, right
   after a credential was issued from every role, and again once their lifetime is over.
Targets: apply <= 1.3x the bare DDL per database; destroy <= 1.2x and flat in N; no-change
plan flat per resource; provider connections <= its pool size at every N.

Prints one report (and docs/images/cost-curve.png, which the README shows, when matplotlib
is there); exits non-zero when a target is missed.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/terraform-provider-dbaas")
TERRAFORM = os.environ.get("TF_ACC_TERRAFORM_PATH", os.path.join(ROOT, ".tools/bin/terraform"))
COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
N = 200
CURVE = [int(n) for n in os.environ.get("BENCH_CURVE", "10,50,200,500").split(",")]
# Runs per point of the curve. One run's bare CREATE DATABASE swings from 23 to 40 ms per
# database here, enough to flip a ratio's verdict: each point reports medians.
CURVE_RUNS = int(os.environ.get("BENCH_CURVE_RUNS", "3"))
POOL_SIZE = 4
VAULT_MAX_OPEN = 2


def client_cert_pem(workdir):
    key, cert = os.path.join(workdir, "key.pem"), os.path.join(workdir, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True)
    with open(cert) as f:
        return f.read()


def startup_seconds(pem):
    env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_CLIENT_CERT=pem, PLUGIN_PROTOCOL_VERSIONS="6")
    samples = []
    for _ in range(30):
        start = time.perf_counter()
        p = subprocess.Popen([BINARY], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = p.stdout.readline()
        samples.append(time.perf_counter() - start)
        p.kill()
        p.wait()
        assert line.startswith(b"1|6|"), line
    return statistics.median(samples)


def write_workspace(workdir, body):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "terraform.rc"), "w") as f:
        f.write('provider_installation {\n  dev_overrides {\n    "infra/dbaas" = "%s"\n  }\n  direct {}\n}\n'
                % os.path.dirname(BINARY))
    with open(os.path.join(workdir, "main.tf"), "w") as f:
        f.write(body)


def terraform(workdir, *args):
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.path.join(workdir, "terraform.rc"), CHECKPOINT_DISABLE="1",
               TF_IN_AUTOMATION="1", DBAAS_POSTGRES_HOST="127.0.0.1", VAULT_ADDR="http://127.0.0.1:8200")
    start = time.perf_counter()
    out = subprocess.run([TERRAFORM, *args, "-input=false", "-no-color"], cwd=workdir, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit("terraform %s failed in %s:\n%s%s" % (args[0], workdir, out.stdout.decode(), out.stderr.decode()))
    return elapsed


def plan_seconds(workdir, runs=9):
    terraform(workdir, "init")
    samples = [terraform(workdir, "plan", "-parallelism=10") for _ in range(runs + 1)]
    return statistics.median(samples[1:])  # the first run warms caches


def interleaved_plans(first, second, runs=9):
    """Medians of `runs` plans of each workspace (both initialised), alternating, so drift
    in the machine's speed (other load, caches) hits both alike."""
    terraform(first, "plan")
    terraform(second, "plan")
    a, b = [], []
    for _ in range(runs):
        a.append(terraform(first, "plan", "-parallelism=10"))
        b.append(terraform(second, "plan", "-parallelism=10"))
    return statistics.median(a), statistics.median(b)


class PgConnections(threading.Thread):
    """Polls pg_stat_activity every 20 ms for the provider's connections."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        # Per provider process (application_name carries its pid): pools are per process.
        query = ("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM pg_stat_activity "
                 "WHERE application_name LIKE 'terraform-provider-dbaas/%' GROUP BY application_name) per_process;\n\\watch 0.02\n")
        self.psql = subprocess.Popen(["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.psql.stdin.write(query)
        self.psql.stdin.flush()

    def run(self):
        for line in self.psql.stdout:
            if line.strip().isdigit():
                self.peak = max(self.peak, int(line))

    def stop(self):
        self.psql.kill()


def psql(sql, database="postgres"):
    out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("psql failed: %s\n%s" % (sql, out.stderr))
    return out.stdout.strip()


def bare_ddl(prefix, n):
    """Seconds for n x (CREATE DATABASE + 3 CREATE ROLE), then n x (DROP DATABASE + roles),
    each batch through one psql session, as a person would run them."""
    create = "".join('CREATE ROLE "%s_%d_owner"; CREATE ROLE "%s_%d_readwrite"; CREATE ROLE "%s_%d_readonly"; '
                     'CREATE DATABASE "%s_%d" OWNER "%s_%d_owner";\n' % ((prefix, i) * 5) for i in range(n))
    drop = "".join('DROP DATABASE "%s_%d"; DROP ROLE "%s_%d_owner", "%s_%d_readwrite", "%s_%d_readonly";\n'
                   % ((prefix, i) * 4) for i in range(n))
    timings = []
    for script in (create, drop):
        start = time.perf_counter()
        out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres",
                              "-d", "postgres"], input=script, capture_output=True, text=True)
        timings.append(time.perf_counter() - start)
        if out.returncode != 0:
            sys.exit("bare DDL failed: %s" % out.stderr)
    return timings


def vault_get(path):
    out = subprocess.run(["curl", "-sS", "-H", "X-Vault-Token: root", "http://127.0.0.1:8200/v1/" + path],
                         capture_output=True, text=True)
    return out.stdout


def vault_connections(prefix):
    return int(psql("SELECT count(*) FROM pg_stat_activity WHERE usename LIKE '%s\\_%%\\_vault'" % prefix) or 0)


def cleanup(prefix, mount):
    subprocess.run(["curl", "-sS", "-X", "PUT", "-H", "X-Vault-Token: root",
                    "http://127.0.0.1:8200/v1/sys/leases/revoke-force/" + mount], capture_output=True)
    subprocess.run(["curl", "-sS", "-X", "DELETE", "-H", "X-Vault-Token: root",
                    "http://127.0.0.1:8200/v1/sys/mounts/" + mount], capture_output=True)
    pattern = prefix.replace("_", "\\_") + "\\_%"
    for name in psql("SELECT datname FROM pg_database WHERE datname LIKE '%s'" % pattern).split():
        psql('DROP DATABASE "%s" WITH (FORCE)' % name)
    for name in psql("SELECT rolname FROM pg_roles WHERE rolname LIKE '%s' OR rolname IN (SELECT rolname FROM pg_roles r "
                     "JOIN pg_auth_members m ON m.member = r.oid WHERE m.roleid IN (SELECT oid FROM pg_roles WHERE rolname LIKE '%s'))"
                     % (pattern, pattern)).split():
        psql('DROP ROLE IF EXISTS "%s"' % name)


def curve_point(tmp, n):
    """One point of the cost curve: n databases, each with a dynamic role, created and
    destroyed CURVE_RUNS times, alternating with as many runs of the bare DDL and of
    Terraform's own floor. Each key holds the median of its runs; "runs" keeps them all."""
    prefix = "bench%d_%d" % (n, os.getpid())
    mount = prefix.replace("_", "-")
    work = os.path.join(tmp, "curve%d" % n)
    provider = ('terraform {\n  required_providers {\n    dbaas = { source = "infra/dbaas" }\n  }\n}\n'
                'provider "dbaas" {\n  postgres {\n    host = "127.0.0.1"\n    sslmode = "disable"\n'
                '    pooler_auth_user = "pgbouncer_auth"\n  }\n'
                '  vault {\n    address = "http://127.0.0.1:8200"\n    token = "root"\n    database_mount = "%s"\n  }\n}\n' % mount)
    write_workspace(work, provider + "".join(
        'resource "dbaas_shared_database" "d%d" {\n  name = "%s_%d"\n  engine = "postgresql"\n  deletion_policy = "drop"\n}\n'
        'resource "dbaas_rotated_role" "r%d" {\n  database = dbaas_shared_database.d%d.id\n  name = "app"\n}\n'
        % (i, prefix, i, i, i) for i in range(n)))
    terraform(work, "init")
    floor = floor_workspace(tmp, n)
    # CREATE DATABASE writes the template (~7 MB) to the WAL. Where the WAL has no recycled
    # segments, each new 16 MB segment is zero-filled and synced first: a lone CREATE
    # DATABASE then takes ~150 ms here instead of ~25. Every run below, the provider's and
    # the bare DDL's alike, starts right after a batch of DROP DATABASE (each a checkpoint,
    # which recycles segments); the first one after a throwaway batch of the same size.
    bare_ddl(prefix + "_warm", n)
    sampler = PgConnections()
    sampler.start()
    point = {"n": n}
    runs = {key: [] for key in ("apply", "destroy", "bare_create", "bare_drop", "tf_apply", "tf_plan", "tf_destroy")}
    try:
        for run in range(CURVE_RUNS):
            runs["apply"].append(terraform(work, "apply", "-auto-approve", "-parallelism=10"))
            if run == 0:
                point["plan"] = statistics.median(terraform(work, "plan", "-parallelism=10") for _ in range(3))
            # A credential from every role, ten at a time, as apps starting together would:
            # every destroy then revokes as many leases.
            roles = ["%s/creds/postgres-%s_%d-app" % (mount, prefix, i) for i in range(n)]
            start = time.perf_counter()
            with ThreadPoolExecutor(10) as pool:
                issued = sum('"username"' in r for r in pool.map(vault_get, roles))
            if run == 0:
                point["issue"] = time.perf_counter() - start
            if issued != n:
                sys.exit("only %d of %d credentials issued" % (issued, n))
            if run == 0:
                point["vault_busy"] = vault_connections(prefix)
                time.sleep(35)  # the connections' max_connection_lifetime (30 s), and a margin
                point["vault_idle"] = vault_connections(prefix)
            runs["destroy"].append(terraform(work, "destroy", "-auto-approve", "-parallelism=10"))
            create, drop = bare_ddl("%s_bare%d" % (prefix, run), n)
            runs["bare_create"].append(create)
            runs["bare_drop"].append(drop)
            for key, seconds in zip(("tf_apply", "tf_plan", "tf_destroy"), terraform_floor(floor)):
                runs[key].append(seconds)
    finally:
        sampler.stop()
        cleanup(prefix, mount)
    point["provider_connections"] = sampler.peak
    point["runs"] = runs
    point.update({key: statistics.median(values) for key, values in runs.items()})
    return point


def floor_workspace(tmp, n):
    """Terraform's own cost at the same shape: n pairs of terraform_data, the second of
    each pair referring to the first, as each role refers to its database. Terraform's
    time per resource grows with the size of the state, whatever the provider."""
    work = os.path.join(tmp, "floor-curve%d" % n)
    write_workspace(work, "".join(
        'resource "terraform_data" "d%d" {\n  input = "%d"\n}\n'
        'resource "terraform_data" "r%d" {\n  input = terraform_data.d%d.id\n}\n' % (i, i, i, i) for i in range(n)))
    terraform(work, "init")
    return work


def terraform_floor(work):
    """Seconds for apply, no-change plan (median of 3) and destroy of the floor workspace."""
    apply = terraform(work, "apply", "-auto-approve", "-parallelism=10")
    plan = statistics.median(terraform(work, "plan", "-parallelism=10") for _ in range(3))
    destroy = terraform(work, "destroy", "-auto-approve", "-parallelism=10")
    return apply, plan, destroy


class PeakRss(threading.Thread):
    """Polls every provider process's VmHWM (its own peak resident set) until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kib = 0
        self.processes = set()
        self.running = True

    def run(self):
        while self.running:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if os.readlink("/proc/%s/exe" % pid) != BINARY:
                        continue
                    with open("/proc/%s/status" % pid) as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                                self.processes.add(pid)
                except OSError:
                    pass
            time.sleep(0.002)


def plan_pair(tmp, n):
    dbaas = os.path.join(tmp, "dbaas%d" % n)
    write_workspace(dbaas, 'terraform {\n  required_providers {\n    dbaas = { source = "infra/dbaas" }\n  }\n}\n'
                    'provider "dbaas" {}\n' + "".join('data "dbaas_endpoints" "e%d" {}\n' % i for i in range(n)))
    floor = os.path.join(tmp, "floor%d" % n)
    write_workspace(floor, "".join('resource "terraform_data" "r%d" {\n  input = %d\n}\n' % (i, i) for i in range(n)))
    terraform(dbaas, "init")
    terraform(floor, "init")
    return interleaved_plans(dbaas, floor)


def plot(points, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ns = [p["n"] for p in points]
    fig, (cost, conns) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, style in (("apply", "apply (provider)", "o-"), ("bare_create", "CREATE DATABASE + 3 roles (bare)", "o--"),
                              ("destroy", "destroy (provider)", "s-"), ("bare_drop", "DROP DATABASE + roles (bare)", "s--"),
                              ("plan", "no-change plan (provider)", "^-"),
                              ("tf_apply", "apply, Terraform's own (terraform_data)", "o:"),
                              ("tf_destroy", "destroy, Terraform's own (terraform_data)", "s:")):
        cost.plot(ns, [1000 * p[key] / p["n"] for p in points], style, label=label)
    cost.set(xscale="log", xlabel="databases (N)", ylabel="ms per database", title="cost per database")
    cost.legend(fontsize=8)
    conns.plot(ns, [p["provider_connections"] for p in points], "o-", label="provider, most at once")
    conns.plot(ns, [p["vault_busy"] for p in points], "s-", label="Vault, after issuing from every role")
    conns.plot(ns, [p["vault_idle"] for p in points], "^-", label="Vault, 35 s later")
    conns.set(xscale="log", xlabel="databases (N)", ylabel="server connections", title="connections held")
    conns.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def net_ratios(point, run, floor, bare):
    """The provider's own cost (the run less Terraform's own at the same shape) over the bare
    DDL, run by run: run i against floor i and bare i."""
    r = point["runs"]
    return [(a - f) / b for a, f, b in zip(r[run], r[floor], r[bare])]


def net(point, run, floor, bare):
    """The median of the run-by-run ratios."""
    return statistics.median(net_ratios(point, run, floor, bare))


def net_range(point, run, floor, bare):
    """The lowest and highest of the run-by-run ratios."""
    ratios = net_ratios(point, run, floor, bare)
    return min(ratios), max(ratios)


def main():
    if not os.path.exists(BINARY):
        sys.exit("no release build at %s: run `make bench`" % BINARY)
    with tempfile.TemporaryDirectory(prefix="dbaas-bench-") as tmp:
        startup = startup_seconds(client_cert_pem(tmp))
        sampler = PeakRss()
        sampler.start()
        plan200, floor200 = plan_pair(tmp, N)
        sampler.running = False
        sampler.join()
        plan1, floor1 = plan_pair(tmp, 1)
        points = [curve_point(tmp, n) for n in CURVE]

    rss_mib = sampler.peak_kib / 1024
    version = subprocess.run([TERRAFORM, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    print("benchmark (static musl release build, %s, %d cores)" % (version, os.cpu_count()))
    print("  provider start to handshake line   %7.1f ms (median of 30)" % (startup * 1000))
    print("  peak RSS of one provider process   %7.2f MiB (max VmHWM over %d processes; target <= 6)"
          % (rss_mib, len(sampler.processes)))
    print("  plan, 1 dbaas_endpoints / 1 terraform_data       %6.3f / %6.3f s = %4.2f (target <= 1.2)"
          % (plan1, floor1, plan1 / floor1))
    print("  plan, %d dbaas_endpoints / %d terraform_data   %6.3f / %6.3f s = %4.2f (target <= 1.15)"
          % (N, N, plan200, floor200, plan200 / floor200))
    print("  cost curve, ms per database, medians of %d runs (each database with a dynamic role; -parallelism=10;"
          % CURVE_RUNS)
    print("  bare DDL in one psql session); each ratio is the median of the runs' own, then their lowest-highest.")
    print("  'run' is the terraform command's wall time; 'tf' is Terraform's own at the same shape (terraform_data);")
    print("  'net' = run - tf, what the provider and the servers behind it add; ratios are net / bare:")
    print("      N |   apply run     tf    net   bare ratio (range)    | destroy run     tf    net   bare ratio (range)    "
          "| plan/res run  tf | issue/cred | provider conns | Vault conns busy, 35 s later")
    for p in points:
        n = p["n"]
        ms = lambda key: 1000 * p[key] / n
        print("  %5d | %11.1f %6.1f %6.1f %6.1f %5.2f (%4.2f-%4.2f) | %11.1f %6.1f %6.1f %6.1f %5.2f (%4.2f-%4.2f) "
              "| %12.2f %4.2f | %10.2f | %14d | %5d, %d" % (
            n, ms("apply"), ms("tf_apply"), ms("apply") - ms("tf_apply"), ms("bare_create"), net(p, "apply", "tf_apply", "bare_create"),
            *net_range(p, "apply", "tf_apply", "bare_create"),
            ms("destroy"), ms("tf_destroy"), ms("destroy") - ms("tf_destroy"), ms("bare_drop"), net(p, "destroy", "tf_destroy", "bare_drop"),
            *net_range(p, "destroy", "tf_destroy", "bare_drop"),
            ms("plan") / 2, ms("tf_plan") / 2, ms("issue"), p["provider_connections"], p["vault_busy"], p["vault_idle"]))
    if plot(points, os.path.join(ROOT, "docs/images/cost-curve.png")):
        print("  plot: docs/images/cost-curve.png")
    destroy_per_db = [(p["destroy"] - p["tf_destroy"]) / p["n"] for p in points]
    missed = [name for name, bad in (
        ("rss", rss_mib > 6),
        ("plan ratio (1)", plan1 / floor1 > 1.2),
        ("plan ratio (200)", plan200 / floor200 > 1.15),
        ("apply ratio", any(net(p, "apply", "tf_apply", "bare_create") > 1.3 for p in points)),
        ("destroy ratio", any(net(p, "destroy", "tf_destroy", "bare_drop") > 1.2 for p in points)),
        ("destroy flat", max(destroy_per_db) > 1.25 * min(destroy_per_db)),
        ("provider connections", any(p["provider_connections"] > POOL_SIZE for p in points)),
        ("connections seen", any(p["provider_connections"] == 0 for p in points)),
        ("Vault connections after their lifetime", any(p["vault_idle"] > 0 for p in points)),
    ) if bad]
    if missed:
        sys.exit("targets missed: " + ", ".join(missed))


main()
