"""A real single-node Slurm cluster on this machine, for tests: munged, slurmctld and slurmd from
Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them), in a private folder with
their own munge key, socket and ports. ``python tests/slurm_local.py`` starts one and prints
``export SLURM_CONF=...`` (stop it with ``scontrol shutdown`` and ``kill $(cat .../munged.pid)``).

:func:`why_not` says precisely why a cluster cannot be started here (missing programs, not root)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(Path(d) / name) for d in ("/usr/sbin", "/usr/bin")
                                       if (Path(d) / name).exists()), None)


def why_not() -> str | None:
    """None when a single-node cluster can be started here, else the reason."""
    missing = [p for p in PROGRAMS if _which(p) is None]
    if missing:
        return (f"Slurm cannot run here: {', '.join(missing)} not installed (Debian packages slurm-wlm and munge; "
                ".ci/run installs them)")
    if os.geteuid() != 0:
        return "Slurm cannot run here: slurmd must start jobs as root (SlurmdUser=root) and this is not root"
    return None


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Cluster:
    """A started cluster: ``env`` has ``SLURM_CONF``; :meth:`stop` shuts it down."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def log(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            p = self.root / name
            if p.exists():
                out.append(f"--- {name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def stop(self) -> None:
        subprocess.run([_which("scontrol"), "shutdown"], env=self.env, capture_output=True, timeout=30)
        for pidfile in ("slurmd.pid", "slurmctld.pid", "munged.pid"):
            p = self.root / pidfile
            try:
                os.kill(int(p.read_text().strip()), 15)
            except (OSError, ValueError):
                pass
        time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


def start(timeout_s: float = 60.0) -> Cluster:
    """Start munged, slurmctld and slurmd; wait until the node is idle. Raises RuntimeError with the logs."""
    reason = why_not()
    if reason:
        raise RuntimeError(reason)
    # munged wants every folder above its socket to be searchable by all: not pytest's 0700 tmp folders
    root = Path(tempfile.mkdtemp(prefix="enb-slurm-", dir="/tmp"))
    root.chmod(0o711)
    (root / "sock").mkdir(mode=0o755)
    for d in ("state", "spool"):
        (root / d).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = root / "sock" / "munge.sock"
    subprocess.run([_which("munged"), f"--socket={sock}", f"--key-file={key}", f"--log-file={root}/munged.log",
                    f"--pid-file={root}/munged.pid", f"--seed-file={root}/munged.seed"], check=True,
                   capture_output=True, timeout=30)
    host = socket.gethostname().split(".")[0]
    ctld_port, d_port = _free_ports(2)
    cpus = os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=enb", f"SlurmctldHost={host}", "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={sock}",
        f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd.log",
        f"SlurmctldPort={ctld_port}", f"SlurmdPort={d_port}",
        # no cgroups in a container: plain process tracking, no task binding, no accounting
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core", "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none", "MpiDefault=none", "ReturnToService=2",
        f"NodeName={host} CPUs={cpus} RealMemory=2000 State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))
    env = dict(os.environ, SLURM_CONF=str(conf))
    cluster = Cluster(root, env)
    try:
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_which(daemon), "-f", str(conf)], env=env, check=True, capture_output=True, timeout=30)
        t0 = time.time()
        while True:
            p = subprocess.run([_which("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30)
            if p.returncode == 0 and p.stdout.strip() == "idle":
                return cluster
            if time.time() - t0 > timeout_s:
                raise RuntimeError(f"the Slurm node did not become idle in {timeout_s:.0f} s (sinfo: "
                                   f"{p.stdout.strip() or p.stderr.strip()})\n{cluster.log()}")
            time.sleep(0.5)
    except BaseException:
        log = cluster.log()
        cluster.stop()
        if isinstance(log, str) and log:
            print(log)
        raise


if __name__ == "__main__":  # pragma: no cover
    c = start()
    print(f"export SLURM_CONF={c.env['SLURM_CONF']}")
