# Shared by scripts/emulator.sh, scripts/image-test.sh and bench/image.sh
# (sourced, not run): Debian's kernel, the binaries, the demo revision of
# an embedded device, and QEMU (TCG: a stock kernel hangs under KVM on
# these nested hosts) booting a disk image made by pvimage.
#
# Needs: ROOT (the repository), IMG_WORK (a work directory).

export PATH="$PATH:/usr/sbin:/sbin"
IMG_LAN_PORT=${IMG_LAN_PORT:-12368}
IMG_PROBE_PORT=${IMG_PROBE_PORT:-12380}
VM_PID=""

log() { echo "== $*" >&2; }

# Debian's kernel package, unpacked (never installed): KVER, VMLINUZ, KMODS.
# The VM suite's copy is reused when it is there.
img_kernel() {
  local kroot
  if [ -f "${PV_VM_WORK:-/var/tmp/pv-vm}/kernel.ok" ]; then
    kroot="${PV_VM_WORK:-/var/tmp/pv-vm}/kroot"
  else
    kroot="$IMG_WORK/kroot"
    if [ ! -f "$IMG_WORK/kernel.ok" ]; then
      rm -rf "$IMG_WORK/deb" "$kroot"
      mkdir -p "$IMG_WORK/deb"
      local dep
      dep=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
      (cd "$IMG_WORK/deb" && apt-get download "$dep" >&2)
      dpkg -x "$IMG_WORK"/deb/*.deb "$kroot"
      touch "$IMG_WORK/kernel.ok"
    fi
  fi
  KVER=$(ls "$kroot/lib/modules" | head -n1)
  VMLINUZ="$kroot/boot/vmlinuz-$KVER"
  KMODS="$kroot/lib/modules/$KVER"
}

# The modules of the demo BSP: what the storage, the network and the
# containers need, with their dependencies, indexed by depmod
# (the whole Debian tree would take minutes to squash).
img_modules() {
  local dst="$IMG_WORK/modules/lib/modules/$KVER"
  if [ -f "$dst/modules.dep" ]; then MODDIR=$dst; return; fi
  rm -rf "$IMG_WORK/modules"
  mkdir -p "$dst"
  [ -f "$KMODS/modules.dep" ] || depmod -b "${KMODS%/lib/modules/*}" "$KVER"
  local want="virtio_pci virtio_blk virtio_net ext4 crc32c_generic loop squashfs overlay bridge veth dummy af_packet"
  local files
  files=$(for m in $want; do
    # built-in or absent ones have no line
    { grep -E "(^|/)${m//_/[-_]}\.ko[^:]*:" "$KMODS/modules.dep" || true; } | head -n1 | tr -d ':' | tr ' ' '\n'
  done | sort -u)
  for f in $files; do install -D -m 644 "$KMODS/$f" "$dst/$f"; done
  cp "$KMODS"/modules.builtin "$KMODS"/modules.builtin.modinfo "$KMODS"/modules.order "$dst/" 2>/dev/null || true
  depmod -b "$IMG_WORK/modules" "$KVER"
  MODDIR=$dst
}

# pvr and pvimage for the host; pantavisor (pv-xconnect and pv-hub-agent
# beside it, where pvimage bsp finds them) and pvcontrol static (musl).
img_binaries() {
  local t
  t=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
  log "building pvr, pvimage (host) and pantavisor, pvcontrol (static, musl)"
  [ -n "${PV_HOST_BINS_FRESH:-}" ] || (cd "$ROOT" && cargo build -q -p pvr -p pv-image)   # set by scripts/test.sh
  if [ -n "${PV_IMAGE_PANTAVISOR:-}" ]; then
    PANTAVISOR=$PV_IMAGE_PANTAVISOR   # a given static build
  elif [ -f "$ROOT/scripts/build-static.sh" ] && [ -z "${IMG_NO_STATIC_SCRIPT:-}" ]; then
    PANTAVISOR=$(cd "$ROOT" && bash scripts/build-static.sh | tail -n1)
  else
    (cd "$ROOT" && cargo build -q --release --target x86_64-unknown-linux-musl -p pantavisor)
    PANTAVISOR=$t/x86_64-unknown-linux-musl/release/pantavisor
  fi
  if [ -n "${PV_IMAGE_PVCONTROL:-}" ]; then
    PVCONTROL=$PV_IMAGE_PVCONTROL   # a given static build
  else
    (cd "$ROOT" && cargo build -q --release --target x86_64-unknown-linux-musl -p pvcontrol)
    PVCONTROL=$t/x86_64-unknown-linux-musl/release/pvcontrol
  fi
  PVR=$t/debug/pvr
  PVIMAGE=$t/debug/pvimage
  file "$PANTAVISOR" | grep -q "static" || { echo "$PANTAVISOR is not static" >&2; return 1; }
}

# A busybox rootfs in $1.
img_rootfs() {
  mkdir -p "$1/bin" "$1/etc" "$1/proc" "$1/sys" "$1/dev" "$1/tmp" "$1/run"
  cp /bin/busybox "$1/bin/busybox"
  local a
  for a in $("$1/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
}

# The platform container that brings the network up inside the VM (DHCP
# on QEMU's user network) and serves a probe for the tests on
# IMG_PROBE_PORT: the kernel command line, the GRUB env, the progress of
# every revision, the host PIDs of the containers' main processes (the
# app's `sleep 100000N`, this container's httpd), the resident memory of
# PID 1, the runtime's other processes and that httpd (`rss PID NAME KB`)
# and the containers' status (pvcontrol over the mgmt role's /pantavisor).
img_net_rootfs() {
  local r=$1
  img_rootfs "$r"
  install -m 755 "$PVCONTROL" "$r/bin/pvcontrol"
  mkdir -p "$r/www/cgi-bin" "$r/usr/share/udhcpc"
  cat >"$r/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -z "$router" ] || ip route replace default via "${router%% *}" dev "$interface"
    [ -z "$dns" ] || for d in $dns; do echo "nameserver $d"; done >/etc/resolv.conf
    ;;
esac
EOF
  cat >"$r/bin/pvnet" <<EOF
#!/bin/sh
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 30 ]; do sleep 1; i=\$((i+1)); done
ip link set eth0 up
udhcpc -i eth0 -t 20 -T 2 -A 2 -b -s /usr/share/udhcpc/default.script
echo "pvnet: \$(ip -4 addr show eth0 | grep inet)"
exec httpd -f -p $IMG_PROBE_PORT -h /www
EOF
  cat >"$r/www/cgi-bin/status" <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "cmdline: $(cat /proc/cmdline)"
echo "grubenv: $(grep -v '^#' /storage/boot/grubenv | tr '\n' ' ')"
for f in /storage/trails/*/.pv/progress /storage/trails/locals/*/.pv/progress; do
  [ -f "$f" ] || continue
  r=${f#/storage/trails/}
  [ "$r" != current/.pv/progress ] || continue
  echo "progress ${r%/.pv/progress}: $(cat "$f")"
done
for p in /host/proc/[0-9]*; do
  c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
  case "$c" in "sleep 100000"* | "httpd -f -p"*) echo "pid ${p#/host/proc/} $c" ;; esac
  n=$(cat "$p/comm" 2>/dev/null)
  case "${p#/host/proc/}:$n" in
    1:* | *:init | *:pv-* | *:httpd) echo "rss ${p#/host/proc/} $n $(sed -n 's/^VmRSS: *\([0-9]*\).*/\1/p' "$p/status")" ;;
  esac
done
echo "containers: $(pvcontrol ls 2>&1 | tr '\n' ' ')"
echo "temp: $(find /storage/trails /storage/objects /storage/boot -name '*.pvtmp-*' -o -name '*.tmp' 2>/dev/null | tr '\n' ' ')"
EOF
  # the light page read at the instant of a power cut: the booted command
  # line and the progress records only
  cat >"$r/www/cgi-bin/phase" <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "cmdline: $(cat /proc/cmdline)"
for f in /storage/trails/*/.pv/progress /storage/trails/locals/*/.pv/progress; do
  [ -f "$f" ] || continue
  r=${f#/storage/trails/}
  [ "$r" != current/.pv/progress ] || continue
  echo "progress ${r%/.pv/progress}: $(cat "$f")"
done
EOF
  chmod 755 "$r/bin/pvnet" "$r/www/cgi-bin/status" "$r/www/cgi-bin/phase" "$r/usr/share/udhcpc/default.script"
}

# The demo revision in checkout $1 (BSP cmdline $2, LAN config $3):
# the BSP, the platform container `pvnet` and the app container `app`.
img_demo_checkout() {
  local co=$1 cmdline=$2 config=$3
  local w="$IMG_WORK/rootfs"
  rm -rf "$co" "$w"
  mkdir -p "$co" "$w"
  img_net_rootfs "$w/net"
  img_rootfs "$w/app"
  printf '{"Cmd":["/bin/pvnet"],"Env":["PATH=/bin"]}' >"$w/net.json"
  printf '{"Cmd":["/bin/sh","-c","exec sleep 1000001"],"Env":["PATH=/bin"]}' >"$w/app.json"
  (
    cd "$co"
    "$PVR" init >/dev/null
    "$PVIMAGE" bsp --kernel "$VMLINUZ" --modules "$MODDIR" --pantavisor "$PANTAVISOR" \
      --cmdline "$cmdline" --config "$config" --out . >/dev/null
    "$PVR" app add pvnet --from "$w/net" --type rootfs --group platform --config-json "$w/net.json" \
      --arg 'PV_ROLES=["mgmt"]' --arg PV_SECURITY_WITH_STORAGE=yes --arg PV_SECURITY_WITH_HOSTPROC=yes >/dev/null
    "$PVR" app add app --from "$w/app" --type rootfs --group app --config-json "$w/app.json" >/dev/null
    "$PVR" add . >/dev/null 2>&1
    "$PVR" commit -m "demo revision" >/dev/null
  )
}

# The device's configuration: embedded defaults plus the LAN endpoint.
img_config() {
  cat <<EOF
PV_SYSTEM_INIT_MODE=embedded
PV_BOOTLOADER_TYPE=grub
PV_STORAGE_DEVICE=LABEL=pvroot
PV_STORAGE_FSTYPE=ext4
PV_STORAGE_MNTPOINT=/storage
PV_STORAGE_WAIT=30
PV_CONTROL_REMOTE=0
PV_LOG_LEVEL=4
PV_UPDATER_GOALS_TIMEOUT=${IMG_GOALS_TIMEOUT:-120}
PV_UPDATER_COMMIT_DELAY=${IMG_COMMIT_DELAY:-5}
PV_LAN_PVR_LISTEN=0.0.0.0:$IMG_LAN_PORT
PV_LAN_PVR_TOKEN=$1
EOF
}

# Boot disk image $1 in the background, serial console appended to $2.
# Forwards the LAN endpoint and the probe to 127.0.0.1.
vm_start() {
  local disk=$1 console=$2
  qemu-system-x86_64 -machine accel=tcg -cpu max -m "${IMG_VM_MEM:-512}" -nographic \
    -drive "file=$disk,format=raw,if=virtio" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$IMG_LAN_PORT-:$IMG_LAN_PORT,hostfwd=tcp:127.0.0.1:$IMG_PROBE_PORT-:$IMG_PROBE_PORT" \
    -device virtio-net-pci,netdev=n0 \
    ${IMG_QEMU_EXTRA:-} </dev/null >>"$console" 2>&1 &
  VM_PID=$!
}

# Power cut: SIGKILL, no flush of the guest.
vm_kill() {
  if [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; then
    kill -KILL "$VM_PID" 2>/dev/null || true
    wait "$VM_PID" 2>/dev/null || true
  fi
  VM_PID=""
}

# Wait up to $3 s for the extended regex $2 in file $1; 1 when it never came
# or QEMU is gone.
wait_for() {
  local f=$1 re=$2 secs=$3 i=0
  while [ "$i" -lt "$secs" ]; do
    tr -d '\r' <"$f" 2>/dev/null | grep -aqE "$re" && return 0
    [ -z "$VM_PID" ] || kill -0 "$VM_PID" 2>/dev/null || return 1
    sleep 1
    i=$((i + 1))
  done
  return 1
}

# The probe's page (empty when the device does not answer).
probe() { curl -s -m 10 "http://127.0.0.1:$IMG_PROBE_PORT/cgi-bin/status" || true; }
# Its light page (command line and progress records), answered within 2 s or empty.
probe_phase() { curl -s -m 2 "http://127.0.0.1:$IMG_PROBE_PORT/cgi-bin/phase" || true; }

# Wait up to $2 s until the probe's page matches the extended regex $1.
wait_probe() {
  local re=$1 secs=$2 start=$SECONDS
  while [ $((SECONDS - start)) -lt "$secs" ]; do
    probe >"$IMG_WORK/probe.txt"
    grep -qE "$re" "$IMG_WORK/probe.txt" && return 0
    [ -z "$VM_PID" ] || kill -0 "$VM_PID" 2>/dev/null || return 1
    sleep 2
  done
  return 1
}
