#!/usr/bin/env bash
# The main job: a local device. Builds a demo revision from a real rootfs
# (Debian's busybox-static) with pvr -- two containers, one of them mgmt,
# signed -- seeds a storage directory with it and runs `pantavisor` in
# appengine mode in the foreground until Ctrl-C. Everything lives in ./demo/.
# Needs root (containers are real: namespaces, loop devices, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root: containers need mounts and namespaces" >&2; exit 1; }
bash scripts/deps.sh
cargo build --release -q -p pvr -p pantavisor
PVR="$PWD/target/release/pvr"
PV="$PWD/target/release/pantavisor"
D="$PWD/demo"
if grep -q " $D/" /proc/self/mountinfo; then
  echo "something is still mounted under $D (is a device running?); not touching it" >&2
  exit 1
fi
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

echo "== export it"
"$PVR" export "$D/demo.pvrexport.tgz"
"$PVR" log
echo "state: $(sha256sum .pvr/json | cut -d' ' -f1)"
echo "export: $D/demo.pvrexport.tgz ($(du -h "$D/demo.pvrexport.tgz" | cut -f1))"

[ -z "${DEMO_STATE_ONLY:-}" ] || exit 0

echo "== run the device (Ctrl-C powers it off)"
mkdir -p "$D/trust" && cp "$D/signer.pub" "$D/trust/"
TOKEN=$(openssl rand -hex 16)
cat > "$D/pantavisor.config" <<CONF
PV_SECUREBOOT_MODE=lenient
PV_SECUREBOOT_TRUSTSTORE=$D/trust
PV_LOG_LEVEL=4
PV_LAN_PVR_LISTEN=127.0.0.1:${DEMO_LAN_PORT:-12368}
PV_LAN_PVR_TOKEN=$TOKEN
CONF
echo "   control socket: pvcontrol -s $D/run/pv-ctrl ls"
echo "   pvr over the LAN (from another terminal):"
echo "     PVR_AUTH=$TOKEN $PVR clone http://127.0.0.1:${DEMO_LAN_PORT:-12368}/cgi-bin /tmp/my-device"
cd "$D"
# exit 0 = reboot (start again with the same flags), 3 = power off
while true; do
  code=0
  "$PV" --storage "$D/storage" --run-dir "$D/run" --config "$D/pantavisor.config" \
    --factory "$D/demo.pvrexport.tgz" || code=$?
  [ "$code" -eq 0 ] || break
  echo "== reboot"
  sleep 1
done
echo "== device stopped (exit $code); storage in $D/storage, logs in $D/storage/logs"
