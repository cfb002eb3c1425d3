"""Benchmarks for issue 2, on a release build, in one run:

1. provider start to handshake line (median of 30 starts);
2. peak RSS of one provider process (VmHWM, sampled from /proc while Terraform drives it);
3. `terraform plan` wall time, 200 `dbaas_endpoints` data sources against 200
   `terraform_data` resources (Terraform's own floor), median of 5 after a warm-up.

Prints one report; exits non-zero when a target is missed (ratio <= 1.5, RSS <= 15 MB).
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


def plan_seconds(workdir, runs=5):
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.path.join(workdir, "terraform.rc"), CHECKPOINT_DISABLE="1",
               TF_IN_AUTOMATION="1", DBAAS_POSTGRES_HOST="127.0.0.1", VAULT_ADDR="http://127.0.0.1:8200")
    subprocess.run([TERRAFORM, "init", "-input=false"], cwd=workdir, env=env, capture_output=True)
    samples = []
    for i in range(runs + 1):
        start = time.perf_counter()
        out = subprocess.run([TERRAFORM, "plan", "-input=false", "-no-color", "-parallelism=10"], cwd=workdir, env=env,
                             capture_output=True)
        elapsed = time.perf_counter() - start
        if out.returncode != 0:
            sys.exit("plan failed in %s:\n%s%s" % (workdir, out.stdout.decode(), out.stderr.decode()))
        if i > 0:  # the first run warms caches
            samples.append(elapsed)
    return statistics.median(samples)


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

        sampler = PeakRss()
        sampler.start()
        dbaas_plan = plan_seconds(dbaas)
        sampler.running = False
        sampler.join()
        floor_plan = plan_seconds(floor)

    ratio = dbaas_plan / floor_plan
    rss_mb = sampler.peak_kib / 1024
    version = subprocess.run([TERRAFORM, "version"], capture_output=True, text=True).stdout.splitlines()[0]
    print("benchmark (release build, %s, %d cores)" % (version, os.cpu_count()))
    print("  provider start to handshake line   %7.1f ms (median of 30)" % (startup * 1000))
    print("  peak RSS of one provider process   %7.1f MB (max VmHWM over %d processes; target <= 15)"
          % (rss_mb, len(sampler.processes)))
    print("  plan, %d dbaas_endpoints          %7.3f s (median of 5)" % (N, dbaas_plan))
    print("  plan, %d terraform_data           %7.3f s (median of 5)" % (N, floor_plan))
    print("  ratio                              %7.2f   (target <= 1.5)" % ratio)
    missed = [name for name, bad in (("ratio", ratio > 1.5), ("rss", rss_mb > 15)) if bad]
    if missed:
        sys.exit("targets missed: " + ", ".join(missed))


main()
