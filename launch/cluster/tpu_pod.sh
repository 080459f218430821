#!/bin/bash
# HiFace training on a Cloud TPU pod slice: the same command on every worker.
#
#   bash launch/cluster/tpu_pod.sh TPU_NAME ZONE gs://BUCKET/runs/hiface_pod [extra --config.x=y flags]
#
# Every TPU VM worker runs one process; jax.distributed.initialize() finds its peers from
# the TPU metadata. The workdir and the prepared datasets live in a bucket (or another
# shared file system) all workers read. TPU VMs get SIGTERM before maintenance or
# preemption: the run saves a checkpoint and exits; run this script again to resume.
set -euo pipefail

TPU=${1:?usage: tpu_pod.sh TPU_NAME ZONE WORKDIR [flags]}
ZONE=${2:?zone}
WORKDIR=${3:?workdir}
shift 3
REPO_DIR=${HIFACE_REPO_DIR:-hiface-jax}
DATA=${HIFACE_DATA:?set HIFACE_DATA to the prepared datasets folder (e.g. gs://BUCKET/data)}

ssh_all() {
  gcloud compute tpus tpu-vm ssh "$TPU" --zone "$ZONE" --worker=all --command "$1"
}

# 1. The code on every worker (same commit), its venv with the TPU build of jax.
ssh_all "cd $REPO_DIR && git pull --ff-only && bash launch/setup.sh && \
  ~/.cache/hiface/venv/bin/pip install -q 'jax[tpu]==0.10.2'"

# 2. Train: one process per worker; quoted flags pass through.
ssh_all "cd $REPO_DIR && ~/.cache/hiface/venv/bin/python -m launch.train \
  --config launch/configs/hiface.py:pod --workdir $WORKDIR \
  --config.train.distributed=True --config.data.data_dir=$DATA $*"
