"""Checks that docker-compose.yaml's volspike services resolve: each one's
command is a real binary and subcommand, and its configuration (the mounted
config/docker.toml, .env.example standing in for .env, its `environment:`)
passes `volspike config check`. Then checks the check: the same service with
one variable misspelled must fail, naming the key.

Usage: compose_config_check.py BIN_DIR   (the directory of the release binaries)
"""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BINARIES = {"volspike", "volspike-ingestor", "volspike-featurizer", "volspike-inference", "volspike-drift"}


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env or {"PATH": "/usr/bin:/bin"})


def service_command(svc):
    """The service's argv: `command`, or the shell line the featurizer runs."""
    cmd = svc["command"]
    if isinstance(cmd, str):
        cmd = cmd.split()
    if svc.get("entrypoint", [])[-2:] == ["/bin/sh", "-c"]:
        # exec volspike-featurizer --config ... --instance-id "$HOSTNAME"
        cmd = cmd[0].replace('"$$HOSTNAME"', "host-1").replace('"$HOSTNAME"', "host-1").split()
        cmd = cmd[1:] if cmd[0] == "exec" else cmd
    return cmd


def check(name, svc, bin_dir, env):
    argv = service_command(svc)
    binary = argv[0]
    if binary not in BINARIES:
        sys.exit(f"{name}: `{binary}` is not a volspike binary")
    # The container path of the config is the mount of config/docker.toml.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svc.get("volumes", []) if v.startswith("./")}
    args = [mounts.get(a, a) for a in argv[1:]]
    args = [str(ROOT / a[2:]) if a.startswith("./") else a for a in args]
    # The command parses (clap answers --help only after the flags before it).
    r = run([str(bin_dir / binary), *args, "--help"])
    if r.returncode != 0:
        sys.exit(f"{name}: `{' '.join(argv)}` does not parse:\n{r.stderr}")
    config = args[args.index("--config") + 1]
    cmd = [str(bin_dir / "volspike"), "--config", config, "config", "check", "--no-process-env",
           "--service", name, "--env-file", str(ROOT / ".env.example")]
    for k, v in (svc.get("environment") or {}).items():
        cmd += ["--env", f"{k}={v}"]
    for k, v in env.items():
        cmd += ["--env", f"{k}={v}"]
    return run(cmd)


def main():
    bin_dir = Path(sys.argv[1])
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    services = {n: s for n, s in compose["services"].items() if str(s.get("image", "")).startswith("volspike:")}
    if set(services) != {"ingestor", "featurizer", "inference", "drift"}:
        sys.exit(f"compose volspike services: {sorted(services)}")
    for name, svc in services.items():
        r = check(name, svc, bin_dir, {})
        if r.returncode != 0:
            sys.exit(f"{name}: volspike config check failed:\n{r.stderr}")
        print(f"{name}: {r.stdout.strip()}")
        # A misspelled variable fails, naming the key it would set.
        r = check(name, svc, bin_dir, {"VOLSPIKE__INFERENCE__AUTH_TOKN": "x"})
        if r.returncode == 0 or "inference.auth-tokn" not in r.stderr:
            sys.exit(f"{name}: a misspelled variable was not reported:\n{r.stdout}{r.stderr}")
        r = check(name, svc, bin_dir, {"VOLSPIKE_INFERENCE__AUTH_TOKEN": "x"})
        if r.returncode == 0 or "VOLSPIKE_INFERENCE__AUTH_TOKEN" not in r.stderr:
            sys.exit(f"{name}: a variable without the VOLSPIKE__ prefix was not reported:\n{r.stderr}")
    print(f"compose services resolve: {', '.join(sorted(services))}")


if __name__ == "__main__":
    main()
