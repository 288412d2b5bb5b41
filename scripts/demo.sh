#!/usr/bin/env bash
# The main job (until the runtime lands): build a demo device state from a
# real rootfs (Debian's busybox-static), commit it, sign it, export it and
# deploy it as a device trail, all under ./demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release -q -p pvr
PVR="$PWD/target/release/pvr"
D="$PWD/demo"
rm -rf "$D"; mkdir -p "$D"
export PVR_CONFIG_DIR="$D/pvr-config"

echo "== a rootfs from busybox-static"
mkdir -p "$D/rootfs/bin" "$D/rootfs/etc"
cp /bin/busybox "$D/rootfs/bin/busybox"
for a in $("$D/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$D/rootfs/bin/$a"; done
echo "demo" > "$D/rootfs/etc/hostname"
printf '{"Cmd":["/bin/sh","-c","while true; do date; sleep 5; done"],"Env":["PATH=/bin"]}' > "$D/app.json"
printf '{"Cmd":["/bin/sh","-c","exec sleep 1000000"],"Env":["PATH=/bin"]}' > "$D/mgmt.json"

echo "== pvr init, app add (two containers, one mgmt), commit"
mkdir -p "$D/device" && cd "$D/device"
"$PVR" init
"$PVR" app add demo-mgmt --from "$D/rootfs" --type rootfs --group platform \
  --config-json "$D/mgmt.json" --arg 'PV_ROLES=["mgmt"]' --volume /var/data:permanent
"$PVR" app add demo-app --from "$D/rootfs" --type rootfs --group app --config-json "$D/app.json"
mkdir -p _config/demo-app/etc && echo "hello from _config" > _config/demo-app/etc/motd
"$PVR" add . && "$PVR" commit -m "demo revision"

echo "== sign the app with a fresh RSA key, commit"
openssl genrsa -out "$D/signer.key" 2048 2>/dev/null
openssl rsa -in "$D/signer.key" -pubout -out "$D/signer.pub" 2>/dev/null
"$PVR" sig --key "$D/signer.key" --x5c no add --part demo-app
"$PVR" add . && "$PVR" commit -m "signed"
"$PVR" sig --pubkey "$D/signer.pub" ls

echo "== export and deploy as a device trail"
"$PVR" export "$D/demo.pvrexport.tgz"
"$PVR" deploy "$D/storage/trails/0"
"$PVR" log
echo "state: $(sha256sum .pvr/json | cut -d' ' -f1)"
echo "export: $D/demo.pvrexport.tgz ($(du -h "$D/demo.pvrexport.tgz" | cut -f1))"
echo "trail:  $D/storage/trails/0"
