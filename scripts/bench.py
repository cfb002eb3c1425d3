"""The provider's benchmarks, on a release build, in one run.

Provider (issue 2):
1. provider start to handshake line (median of 30 starts);
2. peak RSS of one provider process (VmHWM, sampled from /proc while Terraform drives it);
3. `terraform plan` wall time, 200 `dbaas_endpoints` data sources against 200
   `terraform_data` resources (Terraform's own floor), median of 5 after a warm-up.
   Targets: ratio <= 1.5, RSS <= 15 MB.

dbaas_shared_database (issue 3), against the local PostgreSQL and OpenBao:
4. apply, refresh-plan and destroy of 50 databases (with their Vault connections);
5. the most connections the provider held on PostgreSQL at once, polled from
   pg_stat_activity by application_name. Targets: refresh-plan within 2x of a plan of 50
   `terraform_data` in state; connections <= the pool size (4).

Prints one report; exits non-zero when a target is missed.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/terraform-provider-dbaas")
TERRAFORM = os.environ.get("TF_ACC_TERRAFORM_PATH", os.path.join(ROOT, ".tools/bin/terraform"))
COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
N = 200
DATABASES = 50
POOL_SIZE = 4


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


def shared_databases(tmp):
    """Apply, refresh-plan and destroy of DATABASES databases, with Vault connections."""
    prefix = "bench_%d" % os.getpid()
    mount = prefix.replace("_", "-")
    work = os.path.join(tmp, "databases")
    provider = ('terraform {\n  required_providers {\n    dbaas = { source = "infra/dbaas" }\n  }\n}\n'
                'provider "dbaas" {\n  postgres {\n    host = "127.0.0.1"\n    sslmode = "disable"\n'
                '    pooler_auth_user = "pgbouncer_auth"\n  }\n'
                '  vault {\n    address = "http://127.0.0.1:8200"\n    token = "root"\n    database_mount = "%s"\n  }\n}\n' % mount)
    write_workspace(work, provider + "".join(
        'resource "dbaas_shared_database" "d%d" {\n  name = "%s_%d"\n  engine = "postgresql"\n  deletion_policy = "drop"\n}\n'
        % (i, prefix, i) for i in range(DATABASES)))
    floor = os.path.join(tmp, "floor50")
    write_workspace(floor, "".join('resource "terraform_data" "r%d" {\n  input = %d\n}\n' % (i, i) for i in range(DATABASES)))
    terraform(floor, "init")
    terraform(floor, "apply", "-auto-approve")

    terraform(work, "init")
    sampler = PgConnections()
    sampler.start()
    try:
        apply = terraform(work, "apply", "-auto-approve", "-parallelism=10")
        refresh, floor_plan = interleaved_plans(work, floor)
        destroy = terraform(work, "destroy", "-auto-approve", "-parallelism=10")
    finally:
        sampler.stop()
        # Whatever failed above, leave nothing behind: the mount (with its leases) and any
        # database or role of this run.
        subprocess.run(["curl", "-sS", "-X", "DELETE", "-H", "X-Vault-Token: root",
                        "http://127.0.0.1:8200/v1/sys/mounts/" + mount], capture_output=True)
        psql = ["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"]
        pattern = prefix.replace("_", "\\_") + "\\_%"
        for kind, query, drop in (
                ("database", "SELECT datname FROM pg_database WHERE datname LIKE '%s'", 'DROP DATABASE "%s" WITH (FORCE)'),
                ("role", "SELECT rolname FROM pg_roles WHERE rolname LIKE '%s'", 'DROP ROLE "%s"')):
            names = subprocess.run(psql + [query % pattern], capture_output=True, text=True).stdout.split()
            for name in names:
                subprocess.run(psql + [drop % name], capture_output=True)
    return apply, refresh, destroy, floor_plan, sampler.peak


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


def main():
    if not os.path.exists(BINARY):
        sys.exit("no release build at %s: run `cargo build --release`" % BINARY)
    with tempfile.TemporaryDirectory(prefix="dbaas-bench-") as tmp:
        startup = startup_seconds(client_cert_pem(tmp))

        dbaas = os.path.join(tmp, "dbaas")
        write_workspace(dbaas, 'terraform {\n  required_providers {\n    dbaas = { source = "infra/dbaas" }\n  }\n}\n'
                        'provider "dbaas" {}\n'
                        + "".join('data "dbaas_endpoints" "e%d" {}\n' % i for i in range(N)))
        floor = os.path.join(tmp, "floor")
        write_workspace(floor, "".join('resource "terraform_data" "r%d" {\n  input = %d\n}\n' % (i, i) for i in range(N)))

        terraform(dbaas, "init")
        terraform(floor, "init")
        sampler = PeakRss()
        sampler.start()
        dbaas_plan, floor_plan = interleaved_plans(dbaas, floor)
        sampler.running = False
        sampler.join()

        apply, refresh, destroy, floor50, connections = shared_databases(tmp)

    ratio = dbaas_plan / floor_plan
    refresh_ratio = refresh / floor50
    rss_mb = sampler.peak_kib / 1024
    version = subprocess.run([TERRAFORM, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    print("benchmark (release build, %s, %d cores)" % (version, os.cpu_count()))
    print("  provider start to handshake line   %7.1f ms (median of 30)" % (startup * 1000))
    print("  peak RSS of one provider process   %7.1f MB (max VmHWM over %d processes; target <= 15)"
          % (rss_mb, len(sampler.processes)))
    print("  plan, %d dbaas_endpoints          %7.3f s (median of 9, interleaved)" % (N, dbaas_plan))
    print("  plan, %d terraform_data           %7.3f s (median of 9, interleaved)" % (N, floor_plan))
    print("  ratio                              %7.2f   (target <= 1.5)" % ratio)
    print("  apply, %d dbaas_shared_database   %7.2f s (with Vault connections)" % (DATABASES, apply))
    print("  refresh-plan, %d databases        %7.3f s (median of 9, interleaved)" % (DATABASES, refresh))
    print("  plan, %d terraform_data in state  %7.3f s (median of 9, interleaved)" % (DATABASES, floor50))
    print("  refresh ratio                      %7.2f   (target <= 2)" % refresh_ratio)
    print("  destroy, %d databases             %7.2f s" % (DATABASES, destroy))
    print("  most connections one provider held %7d   (pool size %d)" % (connections, POOL_SIZE))
    missed = [name for name, bad in (("ratio", ratio > 1.5), ("rss", rss_mb > 15), ("refresh ratio", refresh_ratio > 2),
                                     ("connections", connections > POOL_SIZE), ("connections seen", connections == 0)) if bad]
    if missed:
        sys.exit("targets missed: " + ", ".join(missed))


main()
