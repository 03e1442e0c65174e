#!/usr/bin/env bash
# Runs ../shared/conformance/tempest.sh against a running Metacloud Compute. tempest 47's
# compute base class asks for `project_reader` credentials; a shared script that does not
# make readers gets them added here (a copy that also creates, in each tempest project, a
# user with the `reader` role and lists it in accounts.yaml; the diff is printed). A shared
# script that makes them itself runs unchanged.
#
#   scripts/tempest.sh [CLOUDS_YAML] [REGEX]
#
# Concurrency defaults to 1: the accounts file has one admin, and two workers running
# admin classes at once make tempest give up ("Insufficient number of users provided").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared="${METACLOUD_SHARED:-$(cd "$here/.." && pwd)/shared}/conformance"
copy=$(mktemp)
trap 'rm -f "$copy"' EXIT
python3 - "$shared/tempest.sh" "$copy" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
if "for role in member reader" in text:
    # The shared script makes the readers itself now: run it as it is.
    open(dst, "w").write(text)
    sys.exit(0)
anchor = "# two flavors and two images"
if anchor not in text:
    sys.exit("tempest wrapper: the shared script changed; no '%s' to add readers before" % anchor)
readers = '''# (metacloud wrapper) one reader per project: tempest 47 asks for project_reader creds
for i in 1 2 3 4; do
  u=$tag-reader$i; p=$tag-project$i; pw=$tag-rpw$i
  admin user show "$u" >/dev/null 2>&1 || admin user create --project "$p" --password "$pw" "$u" >/dev/null
  admin role add --project "$p" --user "$u" reader >/dev/null 2>&1 || true
  { echo "- username: '$u'"; echo "  project_name: '$p'"; echo "  password: '$pw'"
    echo "  roles: ['reader']"; } >> "$work/accounts.yaml"
done

'''
open(dst, "w").write(text.replace(anchor, readers + anchor, 1))
PY
diff -u "$shared/tempest.sh" "$copy" | sed 's/^/  /' >&2 || true
# tempest keeps one registry of workspaces per user (~/.tempest/workspace.yaml) and the
# shared script names its workspace `ws`: a `ws` another work dir registered (a run with
# another TEMPEST_WORK), or one whose directory is gone (a work dir removed and made again),
# makes `tempest init` refuse, silently under `set -e`. Forget it.
work=${TEMPEST_WORK:-$HOME/.cache/metacloud-conformance/tempest}
registry=$HOME/.tempest/workspace.yaml
if [ -f "$registry" ] && grep -qE '^ws: ' "$registry" \
   && { ! grep -qxF "ws: $work/ws" "$registry" || [ ! -d "$work/ws/etc" ]; }; then
  sed -i '/^ws: /d' "$registry"
  echo "tempest wrapper: forgot workspace 'ws' registered for another or a removed work dir" >&2
fi
export TEMPEST_CONCURRENCY=${TEMPEST_CONCURRENCY:-1}
bash "$copy" "$@"
