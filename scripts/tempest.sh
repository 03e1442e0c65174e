#!/usr/bin/env bash
# Runs ../shared/conformance/tempest.sh against a running Metacloud Compute, with one
# addition the shared script lacks: tempest 47's compute base class asks for `project_reader`
# credentials, which the shared script's accounts file does not list, so every test class
# fails in setUpClass. This wrapper runs a copy of the shared script that also creates, in
# each tempest project, a user with the `reader` role and lists it in accounts.yaml.
# Nothing else is changed; the diff is printed so anyone can check.
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
export TEMPEST_CONCURRENCY=${TEMPEST_CONCURRENCY:-1}
bash "$copy" "$@"
