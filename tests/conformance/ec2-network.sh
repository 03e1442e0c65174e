#!/usr/bin/env bash
# Drives a running Metacloud Compute's EC2 addresses and security groups with the real boto3
# (EC2-Classic: AllocateAddress/AssociateAddress/… by PublicIp, groups by name or sg- id), and
# fails at the first step whose result is wrong. Every step is bounded in time.
#
#   ec2-network.sh [CLOUDS_YAML] [EC2_ENDPOINT] [COMPUTE_ENDPOINT]
#
# CLOUDS_YAML as the shared conformance scripts take it (clouds `metacloud` and
# `metacloud-admin`). The admin makes a network and a floating range through Nova's API
# (os-networks, os-floating-ips-bulk); EC2 credentials come from `openstack ec2 credentials
# create`. Run by `scripts/conformance.sh ec2-network`.
set -euo pipefail
clouds=${1:-${METACLOUD_DATA:-./metacloud-data}/clouds.yaml}
endpoint=${2:-http://127.0.0.1:8773/}
compute=${3:-http://127.0.0.1:8774/v2.1}
[ -f "$clouds" ] || { echo "no clouds.yaml at $clouds" >&2; exit 2; }
export OS_CLIENT_CONFIG_FILE=$(cd "$(dirname "$clouds")" && pwd)/$(basename "$clouds")
venv=${CONFORMANCE_VENV:-$HOME/.cache/metacloud-conformance/venv}
[ -x "$venv/bin/openstack" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q python-openstackclient; }
"$venv/bin/python" -c 'import boto3' 2>/dev/null || "$venv/bin/pip" install -q boto3
os() { timeout 60 "$venv/bin/openstack" "$@"; }

tag=$$
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
step() { printf '\n== %s\n' "$1"; }

step "network and floating range (admin, Nova's API)"
token=$(os --os-cloud metacloud-admin token issue -f value -c id)
nova() {
  timeout 30 curl -sS -f -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$@"
}
# A fresh /24 and /29 per run (the tag keeps reruns against one cloud apart).
octet=$(( tag % 200 + 20 ))
nova -X POST "$compute/os-networks" \
  -d "{\"network\": {\"label\": \"ec2net-$tag\", \"cidr\": \"10.$octet.0.0/24\"}}" >/dev/null
nova -X POST "$compute/os-floating-ips-bulk" \
  -d "{\"floating_ips_bulk_create\": {\"ip_range\": \"198.18.$octet.0/29\"}}" >/dev/null

step "image, flavor and credentials"
head -c 1048576 /dev/zero > "$tmp/disk.img"
os --os-cloud metacloud-admin image create --public --disk-format raw --container-format bare \
   --file "$tmp/disk.img" "ec2net-img-$tag" >/dev/null
os --os-cloud metacloud-admin flavor create --ram 128 --disk 1 --vcpus 1 "ec2net.small-$tag" >/dev/null
os --os-cloud metacloud ec2 credentials create -f json > "$tmp/cred.json"

TAG=$tag ENDPOINT=$endpoint CRED=$tmp/cred.json OCTET=$octet timeout 600 "$venv/bin/python" - <<'PY'
import json, os, sys, time
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

tag, ep, octet = os.environ["TAG"], os.environ["ENDPOINT"], os.environ["OCTET"]
cred = json.load(open(os.environ["CRED"]))
ec2 = boto3.client("ec2", endpoint_url=ep, region_name="RegionOne",
                   aws_access_key_id=cred["access"], aws_secret_access_key=cred["secret"],
                   config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 1}))

def step(s): print(f"\n== {s}", flush=True)
def fail(s): print(f"FAIL: {s}", file=sys.stderr); sys.exit(1)
def check(cond, what):
    if not cond: fail(what)
def expect_error(code, fn):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code: fail(f"expected {code}, got {got}: {e}")
        if status != 400: fail(f"{got} came with HTTP {status}, not 400")
        print(f"   {code}: {e.response['Error']['Message']}")
        return
    fail(f"expected {code}, got success")
def wait(what, fn, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v: return v
        time.sleep(1)
    fail(f"timed out waiting for {what}")

web, db = f"web-{tag}", f"db-{tag}"
step("security groups: create, duplicate, describe")
g = ec2.create_security_group(GroupName=web, Description="web servers")
web_id = g["GroupId"]
check(web_id.startswith("sg-"), f"group id {web_id}")
db_id = ec2.create_security_group(GroupName=db, Description="databases")["GroupId"]
expect_error("InvalidGroup.Duplicate", lambda: ec2.create_security_group(GroupName=web, Description="again"))
groups = {x["GroupName"]: x for x in ec2.describe_security_groups()["SecurityGroups"]}
check({"default", web, db} <= set(groups), f"groups: {sorted(groups)}")
check(groups[web]["GroupId"] == web_id and groups[web]["Description"] == "web servers", f"{groups[web]}")
expect_error("InvalidGroup.NotFound", lambda: ec2.describe_security_groups(GroupNames=[f"nope-{tag}"]))
expect_error("InvalidGroup.NotFound", lambda: ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"]))

step("ingress and egress rules: authorize, duplicate, describe, revoke")
ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}
from_db = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db_id}]}
ping = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ec2.authorize_security_group_ingress(GroupId=web_id, IpPermissions=[ssh, from_db, ping])
expect_error("InvalidPermission.Duplicate",
             lambda: ec2.authorize_security_group_ingress(GroupId=web_id, IpPermissions=[ssh]))
https_out = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ec2.authorize_security_group_egress(GroupId=web_id, IpPermissions=[https_out])
# The flat form, by group name.
ec2.authorize_security_group_ingress(GroupName=web, IpProtocol="udp", FromPort=53, ToPort=53, CidrIp="10.0.0.0/8")
sg = ec2.describe_security_groups(GroupIds=[web_id])["SecurityGroups"][0]
ingress = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in sg["IpPermissions"]}
check(("tcp", 22, 22) in ingress and ingress[("tcp", 22, 22)]["IpRanges"][0]["CidrIp"] == "203.0.113.0/24", f"ssh: {sg}")
pairs = ingress.get(("tcp", 5432, 5432), {}).get("UserIdGroupPairs", [])
check(len(pairs) == 1 and pairs[0]["GroupId"] == db_id and pairs[0].get("GroupName") == db, f"from db: {sg}")
check(("icmp", -1, -1) in ingress and ("udp", 53, 53) in ingress, f"icmp/udp: {sg}")
egress = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")) for p in sg["IpPermissionsEgress"]}
check(("tcp", 443, 443) in egress and ("tcp", 443, 443) not in ingress, f"egress: {sg}")
ec2.revoke_security_group_ingress(GroupId=web_id, IpPermissions=[ssh])
expect_error("InvalidPermission.NotFound",
             lambda: ec2.revoke_security_group_ingress(GroupId=web_id, IpPermissions=[ssh]))
ec2.revoke_security_group_egress(GroupId=web_id, IpPermissions=[https_out])
sg = ec2.describe_security_groups(GroupIds=[web_id])["SecurityGroups"][0]
check(all(p.get("FromPort") != 22 for p in sg["IpPermissions"]), f"ssh revoked: {sg}")
check(all(p.get("FromPort") != 443 for p in sg["IpPermissionsEgress"]), f"https revoked: {sg}")
expect_error("InvalidGroup.NotFound", lambda: ec2.authorize_security_group_ingress(
    GroupName=f"nope-{tag}", IpPermissions=[ssh]))
expect_error("CannotDelete", lambda: ec2.delete_security_group(GroupName="default"))

step("an instance in a group, with its private address")
image = [i for i in ec2.describe_images()["Images"] if i.get("Name") == f"ec2net-img-{tag}"][0]["ImageId"]
expect_error("InvalidGroup.NotFound", lambda: ec2.run_instances(
    ImageId=image, InstanceType=f"ec2net.small-{tag}", MinCount=1, MaxCount=1, SecurityGroups=[f"nope-{tag}"]))
r = ec2.run_instances(ImageId=image, InstanceType=f"ec2net.small-{tag}", MinCount=1, MaxCount=1,
                      SecurityGroups=[web], SecurityGroupIds=[db_id])
inst = r["Instances"][0]
iid = inst["InstanceId"]
names = sorted(x["GroupName"] for x in inst["SecurityGroups"])
check(names == sorted([web, db]), f"groups at launch: {inst['SecurityGroups']}")
private = inst.get("PrivateIpAddress", "")
check(private.startswith(f"10.{octet}.0."), f"private address at launch: {inst}")
def running():
    for res in ec2.describe_instances(InstanceIds=[iid])["Reservations"]:
        for i in res["Instances"]:
            if i["State"]["Name"] == "running": return i
wait("the instance running", running)
i = running()
check(i.get("PrivateIpAddress") == private and i.get("PrivateDnsName"), f"described: {i}")
check(web in {x["GroupName"] for x in i["SecurityGroups"]}, f"groups described: {i['SecurityGroups']}")
expect_error("InvalidGroup.InUse", lambda: ec2.delete_security_group(GroupId=web_id))

step("addresses: allocate, associate, describe, disassociate, release")
a = ec2.allocate_address(Domain="standard")
ip = a["PublicIp"]
check(ip.startswith(f"198.18.{octet}."), f"address from the range: {a}")
check(a.get("Domain") == "standard", f"{a}")
listed = {x["PublicIp"]: x for x in ec2.describe_addresses()["Addresses"]}
check(ip in listed and not listed[ip].get("InstanceId"), f"addresses: {listed}")
expect_error("InvalidAddress.NotFound", lambda: ec2.describe_addresses(PublicIps=["192.0.2.250"]))
ec2.associate_address(InstanceId=iid, PublicIp=ip)
x = ec2.describe_addresses(PublicIps=[ip])["Addresses"][0]
check(x.get("InstanceId") == iid and x.get("PrivateIpAddress") == private, f"associated: {x}")
i = running()
check(i.get("PublicIpAddress") == ip, f"instance's public address: {i}")
expect_error("InvalidIPAddress.InUse", lambda: ec2.release_address(PublicIp=ip))
ec2.disassociate_address(PublicIp=ip)
expect_error("InvalidAssociationID.NotFound", lambda: ec2.disassociate_address(PublicIp=ip))
check(not running().get("PublicIpAddress"), "public address after disassociation")
ec2.release_address(PublicIp=ip)
expect_error("InvalidAddress.NotFound", lambda: ec2.release_address(PublicIp=ip))
check(ip not in {x["PublicIp"] for x in ec2.describe_addresses()["Addresses"]}, "released address listed")

step("terminate; then the groups go")
ec2.terminate_instances(InstanceIds=[iid])
def deleted():
    try:
        ec2.delete_security_group(GroupId=web_id)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] != "InvalidGroup.InUse": raise
        return False
wait("web deletable", deleted)
ec2.delete_security_group(GroupName=db)
expect_error("InvalidGroup.NotFound", lambda: ec2.delete_security_group(GroupName=db))
left = {x["GroupName"] for x in ec2.describe_security_groups()["SecurityGroups"]}
check(web not in left and db not in left, f"groups left: {left}")
print("\nec2-network: all steps passed")
PY
