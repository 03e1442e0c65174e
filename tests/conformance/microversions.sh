#!/usr/bin/env bash
# Every compute microversion the cloud announces, walked with tempest's own service clients
# and checked against tempest's response schema for each version (issue 16, Done-when 1):
# servers (create, show, list, detail, update, stop/start/reboot, rebuild, delete), flavors,
# keypairs, server groups, services, hypervisors, quota sets and classes, limits,
# aggregates, migrations, instance actions and the version documents.
#
#   microversions.sh [CLOUDS_YAML]
#
# Uses tempest's virtualenv (the one ../shared/conformance/tempest.sh makes, made here the
# same way when missing). Prints one line per version.
set -euo pipefail
clouds=${1:-${METACLOUD_DATA:-./metacloud-data}/clouds.yaml}
[ -f "$clouds" ] || { echo "no clouds.yaml at $clouds" >&2; exit 2; }
venv=${TEMPEST_WORK:-$HOME/.cache/metacloud-conformance/tempest}/venv
[ -x "$venv/bin/tempest" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q tempest python-openstackclient; }
exec timeout 1800 "$venv/bin/python" "$(dirname "$0")/microversions.py" "$clouds"
