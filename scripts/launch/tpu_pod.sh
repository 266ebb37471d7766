#!/usr/bin/env bash
# Launch a gaxla run on a Cloud TPU pod slice: the same command on every host.
#
#   scripts/launch/tpu_pod.sh NAME ZONE ACCELERATOR CONFIG WORKDIR [--config.KEY=VALUE ...]
#   e.g. scripts/launch/tpu_pod.sh gaxla-pod us-central2-b v4-64 \
#          configs/fashion_mnist_dcgan.py gs://BUCKET/runs/fmnist
#
# What it does (plain gcloud; read it before running):
#   1. creates the TPU VM slice if it does not exist (queued resources are the
#      better choice for large slices; see the gcloud docs),
#   2. copies this checkout to every host and installs it with the TPU jax,
#   3. starts `gaxla train` on all hosts at once with GAXLA_DISTRIBUTED=1, so
#      each process calls jax.distributed.initialize() with no arguments (the
#      TPU runtime supplies coordinator, process count and id).
# WORKDIR must be shared by all hosts (a gs:// bucket): orbax writes one
# checkpoint from all processes, process 0 writes logs and pictures.
# A preempted VM gets SIGTERM: gaxla saves a checkpoint and exits; re-running
# this script resumes from it.
#
# Verified here: the script's gaxla command line (tested on one machine with
# several processes, tests/test_parallel.py). Not verified: the gcloud calls
# themselves (no TPU access from our CI).
set -euo pipefail
NAME=$1 ZONE=$2 ACCELERATOR=$3 CONFIG=$4 WORKDIR=$5
shift 5
VERSION=${TPU_SOFTWARE_VERSION:-tpu-ubuntu2204-base}

if ! gcloud compute tpus tpu-vm describe "$NAME" --zone "$ZONE" >/dev/null 2>&1; then
  gcloud compute tpus tpu-vm create "$NAME" --zone "$ZONE" \
      --accelerator-type "$ACCELERATOR" --version "$VERSION"
fi

REPO=$(cd "$(dirname "$0")/../.." && pwd)
tar -C "$REPO" --exclude .git --exclude .venv --exclude runs -czf /tmp/gaxla.tgz .
gcloud compute tpus tpu-vm scp /tmp/gaxla.tgz "$NAME":/tmp/gaxla.tgz --zone "$ZONE" --worker=all
gcloud compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all --command "
  set -e; mkdir -p ~/gaxla && tar -C ~/gaxla -xzf /tmp/gaxla.tgz && cd ~/gaxla &&
  python3 -m venv ~/venv && . ~/venv/bin/activate &&
  pip install -q -U 'jax[tpu]' && pip install -q -e ."

ARGS=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$NAME" --zone "$ZONE" --worker=all --command "
  cd ~/gaxla && . ~/venv/bin/activate &&
  GAXLA_DISTRIBUTED=1 gaxla train --config $CONFIG --workdir $WORKDIR --progress lines $ARGS"
