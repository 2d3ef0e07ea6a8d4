#!/usr/bin/env bash
# Runs zdm's bundle with a Node.js >= 20 from the self-hosted runner's host: composite actions do
# not get the runner's own Node (the root action.yml does: it runs on the runner's node24), so say
# how to get one when none is found.
set -euo pipefail
for node in "$(command -v node 2>/dev/null || true)" /usr/local/bin/node /usr/bin/node; do
  [ -n "$node" ] && [ -x "$node" ] || continue
  major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge 20 ]; then exec "$node" "$@"; fi
  found="$node (v$major)"
done
echo "::error title=zdm needs Node.js 20 or later::zdm runs with the node on the runner host's PATH, and ${found:-none was found}. Install Node.js 20+ on the self-hosted runner (from your distribution or NodeSource), or add 'uses: actions/setup-node@v4' with node-version 24 (or 20+) before this step."
exit 1
