#!/usr/bin/env bash
# Does the app's `export diffusers` load in the REAL diffusers UNet2DModel and give the same output?
#
#   DIFFUSERS_SRC=/tmp/diffusers-src test/reference/diffusers/check-app-export.sh
#
# For every parity case here that the diffusers template imports: its config_json
# → `unet-studio template diffusers --config` → `unet-studio export diffusers --weights` (the case's
# state_dict without io.*; the legacy case keeps its legacy names, which the export renames)
# → check_export.py (real `UNet2DModel.from_pretrained(DIR)`, its own strict key/shape/value check,
# the forward on the case's io.x/io.timesteps/io.y) → its output against the case's io.out.
# Also: the exported config.json is byte-identical to the case's config_json.
# Not part of `npm test`: it needs a diffusers checkout (README.md names the commit), which CI lacks.
# Exit status: 0 when every case passes, 1 otherwise.
set -euo pipefail
: "${DIFFUSERS_SRC:?set DIFFUSERS_SRC to a huggingface/diffusers checkout at the commit README.md names}"
[ -d "$DIFFUSERS_SRC/src/diffusers" ] || { echo "check-app-export: $DIFFUSERS_SRC/src/diffusers is not a folder" >&2; exit 2; }
PY=${UNET_STUDIO_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CLI=(node "$ROOT/cli/bin.mjs")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failed=0

for json in "$HERE"/df-*.json; do
  c=$(basename "$json" .json)
  # config.json and the checkpoint without io.* (diffusers_env's strict safetensors reader/writer).
  "$PY" - "$HERE" "$c" "$WORK" <<'PYEOF'
import json, sys
sys.dont_write_bytecode = True
here, c, work = sys.argv[1:]
sys.path.insert(0, here)
from diffusers_env import st_parse, st_serialize
with open(f"{here}/{c}.json", encoding="utf-8") as f:
    case = json.load(f)
with open(f"{work}/{c}.config.json", "w", encoding="utf-8") as f:
    f.write(case["config_json"])
with open(f"{here}/{c}.safetensors", "rb") as f:
    tensors, _ = st_parse(f.read())
with open(f"{work}/{c}.weights.safetensors", "wb") as f:
    f.write(st_serialize({k: v for k, v in tensors.items() if not k.startswith("io.")}))
PYEOF
  if ! "${CLI[@]}" template diffusers --config "$WORK/$c.config.json" -o "$WORK/$c.graph.json" 2>"$WORK/$c.template.err"; then
    echo "$c: skipped, the diffusers template refuses its config: $(head -c 300 "$WORK/$c.template.err" | tr '\n' ' ')"
    continue
  fi
  "${CLI[@]}" export diffusers "$WORK/$c.graph.json" --weights "$WORK/$c.weights.safetensors" -o "$WORK/$c.export" 2>"$WORK/$c.export.err" \
    || { echo "$c: FAIL, export diffusers: $(cat "$WORK/$c.export.err")"; failed=1; continue; }
  if ! cmp -s "$WORK/$c.export/config.json" "$WORK/$c.config.json"; then echo "$c: FAIL, config.json differs from the case's config_json"; failed=1; fi
  summary=$(DIFFUSERS_SRC="$DIFFUSERS_SRC" "$PY" "$HERE/check_export.py" "$WORK/$c.export" "$HERE/$c.safetensors" "$WORK/$c.out.safetensors" 2>"$WORK/$c.check.err") \
    || { echo "$c: FAIL, check_export.py: $(cat "$WORK/$c.check.err")"; failed=1; continue; }
  "$PY" - "$HERE" "$c" "$WORK" "$summary" <<'PYEOF' || failed=1
import json, sys
sys.dont_write_bytecode = True
here, c, work, summary = sys.argv[1:]
sys.path.insert(0, here)
from diffusers_env import st_parse
import torch
s = json.loads(summary)
with open(f"{here}/{c}.safetensors", "rb") as f:
    ref = st_parse(f.read())[0]["io.out"].float()
with open(f"{work}/{c}.out.safetensors", "rb") as f:
    got = st_parse(f.read())[0]["io.out"].float()
diff = (got - ref).abs()
ok = tuple(got.shape) == tuple(ref.shape) and bool((diff <= 1e-4 + 1e-4 * ref.abs()).all())
print(f"{c}: {'ok' if ok else 'FAIL'}, from_pretrained loaded {s['num_state_dict_tensors']} tensors "
      f"({s['num_parameters']:,} parameters, {s['legacy_names_renamed']} legacy names renamed by diffusers), "
      f"out {list(got.shape)} max |diff| vs io.out {diff.max().item():.3g} "
      f"(bit-identical: {'yes' if torch.equal(got, ref) else 'no'}; max |io.out| {ref.abs().max().item():.3g})")
sys.exit(0 if ok else 1)
PYEOF
done
exit $failed
