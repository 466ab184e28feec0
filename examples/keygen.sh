#!/usr/bin/env bash
# The README's key tour, run by examples.test.ts in an empty folder with the repository's
# secsess-keygen on the PATH (after `npm run build`).
set -euo pipefail

secsess-keygen -b 3072 -o secrets/server        # secrets/server.key (0600) and secrets/server.pub
secsess-keygen fingerprint secrets/server.pub   # SHA256:… — the same string as ssh-keygen -l
secsess-keygen inspect secrets/server.key --json
secsess-keygen convert secrets/server.key --to openssh --public
