#!/bin/sh
# Slurm and munge from the distribution's packages, for the slurm test tier
# (tests/slurm) and bench/slurm.py. Debian and Ubuntu (apt-get), as root. No
# daemon is started or configured: the tier runs its own, from a configuration
# it writes into a temporary directory. Prints one line and exits 1 when it cannot.
set -u
for bin in munged slurmctld slurmd sbatch srun scontrol; do
  command -v "$bin" >/dev/null || missing=1
done
[ -z "${missing:-}" ] && exit 0
command -v apt-get >/dev/null || { echo "install-slurm: no apt-get: install Slurm (slurm-wlm) and munge by hand"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "install-slurm: apt-get needs root"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# keep the packages' own services from starting (there is no configuration for them)
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
install() { timeout 600 apt-get install -y -q --no-install-recommends slurm-wlm munge >/tmp/install-slurm.log 2>&1; }
if ! install; then  # a fresh machine may have no package lists yet
  timeout 300 apt-get update -q >/tmp/install-slurm.log 2>&1 && install || {
    echo "install-slurm: apt-get failed: $(tail -n 1 /tmp/install-slurm.log)"; exit 1; }
fi
echo "install-slurm: installed $(dpkg-query -W -f '${Package} ${Version}  ' slurm-wlm munge)"
