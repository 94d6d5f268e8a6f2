#!/usr/bin/env bash
# End-to-end mixed-precision Pareto comparison on Fashion-MNIST, every step a bitswitch command: multi-precision base
# (small CNN, trainer/recipes/hasb-fashion-base.json) → sensitivity (Hutchinson) → HASB SuperNet and
# uniform-sampling SuperNet (trainer/recipes/hasb-fashion.json, same seed and data) → ILP search over
# avg-bits budgets on the HASB model → every SubNet evaluated by the runtime on both SuperNets.
# Outputs: results/pareto/{pareto.svg,pareto.html,pareto.json,summary.json}; work files in $WORK.
# Env: WORK (default /tmp/bitswitch-pareto), SENS_IMAGES (250), SENS_PROBES (30), EVAL_LIMIT (1000),
#      BUDGETS (avg-bits=2..8:0.5), SEED (1: the SuperNets' shuffling, augmentation and bit sampling),
#      OUT (results/pareto). An existing $WORK/base run is reused (resumed if unfinished).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/bitswitch-pareto}
OUT=${OUT:-results/pareto}
SEED=${SEED:-1}
SENS_IMAGES=${SENS_IMAGES:-250}
SENS_PROBES=${SENS_PROBES:-30}
EVAL_LIMIT=${EVAL_LIMIT:-1000}
BUDGETS=${BUDGETS:-avg-bits=2..8:0.5}
mkdir -p "$WORK" "$OUT"
step() { echo "+ bitswitch $*" >&2; node cli/bin/bitswitch.mjs "$@" 2>&1 | grep -v -e 'Vulkan' -e 'BackendVk' -e 'TensorFlow.js' -e '^=*$' -e 'tfjs-node' -e '^ *$'; }

# one BatchNorm shard (so one worker): the base trains the same for any core count; --resume
# continues a run in $WORK/base, a finished one is kept and exported again to $WORK/base/model.bsw
step train --recipe trainer/recipes/hasb-fashion-base.json --out "$WORK/base" --shards 1 --resume --no-progress
# the estimates are written as they are when some layer is still above --tol after the probes
step sensitivity "$WORK/base/model.bsw" --data fashion-mnist --images "$SENS_IMAGES" --max-iters "$SENS_PROBES" --allow-unconverged --out "$WORK/multi.bsw"
# the two SuperNets train side by side (same recipe, seed and data; only the sampling differs)
for s in hasb uniform; do
  step supernet "$WORK/multi.bsw" --data fashion-mnist --sampling "$s" --recipe trainer/recipes/hasb-fashion.json --seed "$SEED" --out "$WORK/$s.bsw" --no-progress > "$WORK/supernet-$s.log" &
done
wait
cat "$WORK/supernet-hasb.log" "$WORK/supernet-uniform.log"
test -f "$WORK/hasb.bsw" -a -f "$WORK/uniform.bsw"
step search "$WORK/hasb.bsw" --budget "$BUDGETS" --out "$WORK/hasb-subnets.bsw"
step pareto "$WORK/hasb-subnets.bsw" --baseline "$WORK/uniform.bsw" --data fashion-mnist --limit "$EVAL_LIMIT" \
  --label 'HASB' --baseline-label 'uniform sampling' --out "$OUT/pareto.html" --json "$OUT/pareto.json"
node --import tsx test/pareto-summary.ts "$OUT/pareto.json" "$WORK" "$OUT/pareto.svg" > "$OUT/summary.json"
cat "$OUT/summary.json"
