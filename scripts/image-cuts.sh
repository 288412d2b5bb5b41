# Stage 4 of scripts/image-test.sh (sourced, not run): power cuts. QEMU is
# killed without warning at a random instant of an update posted with
# `pvr post` and restarted on the same disk image.
#
# Cut i is a BSP update (a new kernel command line: reboot, GRUB's
# try-boot, TESTING, commit) when i is a multiple of CUT_BSP_EVERY, else an
# app update (no reboot). The instant is uniform over the update's length
# (CUT_APP_MAX, CUT_BSP_MAX seconds: post to UPDATED or DONE, a little
# more), so that every phase is hit: upload, install, reboot, TESTING,
# commit, and after. Just before the cut the light probe page says where
# the update is (the new revision's progress; the console says which
# revision GRUB booted when the device does not answer).
#
# After the restart the device must settle (nothing INPROGRESS or TESTING,
# the booted revision DONE or UPDATED; a reboot on the way is allowed),
# then: it boots the committed, running or tried revision of before the
# cut or the new one, never an older one; the new one when the cut came
# after the runtime had set pv_try to it and before the bootloader could
# have attempted it (spec 4.10: progress "Rebooting" of a BSP update;
# "Transitioning", "Trying", TESTING or UPDATED of an app update, which
# the next boot tries and commits); the committed one (pv_rev) is
# DONE; pv_try is empty or the booted revision; no temp files; the trail
# clones back whole. A failed cut keeps its disk image and console log
# (cut-N.img, cut-N.console) in IMG_WORK.
#
# Needs from image-test.sh: IMG_WORK PVR URL CONSOLE BASE_CMDLINE BOOT_SECS,
# ok bad bsp up booted status_of env_var; from image-lib.sh: vm_start
# vm_kill probe probe_phase.

CUT_BSP_EVERY=${PV_IMAGE_CUT_BSP_EVERY:-3}

# The line of the revision that was not known before the post (its name
# and its progress JSON), from a probe page on stdin; $1 the known names.
new_progress() {
  local known=$1 r rest
  grep '^progress ' | while read -r _ r rest; do
    r=${r%:}
    grep -qxF "$r" <<<"$known" || echo "$r $rest"
  done | head -n1
}

# Where the update is at this instant: "<phase> (<detail>)".
# $1 the post's PID, $2 the known revisions, $3 the console's size at the post.
cut_phase() {
  local post_pid=$1 known=$2 from=$3 page line st msg grub
  if kill -0 "$post_pid" 2>/dev/null; then
    echo "upload (pvr post running)"
    return
  fi
  page=$(probe_phase)
  if [ -z "$page" ]; then
    # (GRUB's line ends in an escape sequence, not a space)
    grub=$(tail -c +"$((from + 1))" "$CONSOLE" | grep -ao 'pantavisor: booting revision [A-Za-z0-9/._-]*' | tail -n1)
    if [ -n "$grub" ]; then echo "reboot (${grub#pantavisor: }, not answering yet)"; else echo "no answer (posted)"; fi
    return
  fi
  line=$(new_progress "$known" <<<"$page")
  if [ -z "$line" ]; then
    echo "install (posted, no progress record yet)"
    return
  fi
  st=$(sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p' <<<"$line")
  msg=$(sed -n 's/.*"status-msg":"\([^"]*\)".*/\1/p' <<<"$line")
  case "$st" in
    DONE | UPDATED) echo "committed ($st: $msg)" ;;
    TESTING) echo "testing ($st: $msg)" ;;
    ERROR | WONTGO) echo "failed ($st: $msg)" ;;
    *) case "$msg" in
      Rebooting*) echo "reboot ($st: $msg)" ;;
      "Trying new revision" | Awaiting* | Waiting*) echo "testing ($st: $msg)" ;;
      *) echo "install ($st: $msg)" ;;
    esac ;;
  esac
}

# Wait up to $1 s until the device has settled: it answers, its booted
# revision is DONE or UPDATED and no revision is INPROGRESS or TESTING.
settle() {
  local secs=$1 start=$SECONDS rev
  while [ $((SECONDS - start)) -lt "$secs" ]; do
    probe >"$IMG_WORK/probe.txt"
    rev=$(booted)
    if [ -n "$rev" ]; then
      case "$(status_of "$rev")" in
        DONE | UPDATED) grep -qE '"status":"(INPROGRESS|TESTING)"' "$IMG_WORK/probe.txt" || return 0 ;;
      esac
    fi
    [ -z "$VM_PID" ] || kill -0 "$VM_PID" 2>/dev/null || return 1
    sleep 2
  done
  return 1
}

# The checks after the restart: sets PROBLEMS (none: empty), REV (the
# booted revision), ST (its progress), WHICH (old or new).
# $1 the revisions bootable before (committed, running, tried), $2 the known
# ones, $3 1 when the new one must boot (its try was set before the cut).
check_after_cut() {
  local prev=$1 known=$2 must_new=$3 problems="" try committed dangling temps
  REV="" ST="" WHICH="" PROBLEMS=""
  if ! up; then
    PROBLEMS="did not come back up;"
    return
  fi
  settle "$BOOT_SECS" || problems="did not settle within $BOOT_SECS s;"
  up 300 || problems="$problems not up after settling;"
  probe >"$IMG_WORK/probe.txt"
  REV=$(booted)
  ST=$(status_of "$REV")
  case " $prev " in
    *" $REV "*) WHICH=old ;;
    *) if grep -qxF "$REV" <<<"$known"; then
      problems="$problems booted $REV: neither one of ($prev) nor the new revision;"
    else
      WHICH=new
    fi ;;
  esac
  [ "$must_new" = 0 ] || [ "$WHICH" = new ] || problems="$problems the new revision was set to be tried before the cut, yet $REV booted;"
  try=$(env_var pv_try)
  case "$ST" in
    DONE | UPDATED) ;;
    INPROGRESS | TESTING) [ "$REV" = "$try" ] || problems="$problems booted $REV is $ST but not tried;" ;;
    *) problems="$problems booted $REV has progress '$ST';" ;;
  esac
  [ -z "$try" ] || [ "$try" = "$REV" ] || problems="$problems pv_try=$try left set while $REV runs;"
  committed=$(env_var pv_rev)
  [ "$(status_of "$committed")" = DONE ] || problems="$problems pv_rev=$committed is not DONE;"
  dangling=$(grep -E '"status":"(INPROGRESS|TESTING)"' "$IMG_WORK/probe.txt" | grep -v "^progress $REV: " || true)
  [ -z "$dangling" ] || problems="$problems left in progress: $dangling;"
  temps=$(sed -n 's/^temp: *//p' "$IMG_WORK/probe.txt")
  [ -z "${temps// /}" ] || problems="$problems temp files: $temps;"
  rm -rf "$IMG_WORK/verify"
  "$PVR" clone "$URL/cgi-bin" "$IMG_WORK/verify" >/dev/null 2>&1 || problems="$problems clone of $REV failed;"
  PROBLEMS=$problems
}

# $1 cuts. Prints one line per cut and the distribution of outcomes.
power_cuts() {
  local cuts=$1 i kind max delay prev known post_pid from phase must_new
  local fails=0 t0=$SECONDS t
  declare -A outcome=()
  log "4. $cuts power cuts (cut i is a BSP update when i is a multiple of $CUT_BSP_EVERY; instants: app 0-$CUT_APP_MAX s, BSP 0-$CUT_BSP_MAX s)"
  for i in $(seq 1 "$cuts"); do
    t=$SECONDS
    if [ "$CUT_BSP_EVERY" -gt 0 ] && [ $((i % CUT_BSP_EVERY)) = 0 ]; then
      bsp "$BASE_CMDLINE pv_e2e=cut$i"
      kind=bsp
      max=$CUT_BSP_MAX
    else
      mkdir -p "$IMG_WORK/clone/_config/app/etc"
      echo "cut $i" >"$IMG_WORK/clone/_config/app/etc/motd"
      kind=app
      max=$CUT_APP_MAX
    fi
    (cd "$IMG_WORK/clone" && "$PVR" add . >"$IMG_WORK/add.log" 2>&1 && "$PVR" commit -m "cut $i" >/dev/null) || { cat "$IMG_WORK/add.log"; return 1; }
    # what the device holds before: the revisions it may boot (committed,
    # running, being tried) and the known ones
    probe >"$IMG_WORK/probe.txt"
    prev="$(env_var pv_rev) $(booted) $(env_var pv_try)"
    known=$(sed -n 's/^progress \([^:]*\):.*/\1/p' "$IMG_WORK/probe.txt")
    from=$(stat -c %s "$CONSOLE")
    (cd "$IMG_WORK/clone" && exec "$PVR" post "$URL" >"$IMG_WORK/post.log" 2>&1) &
    post_pid=$!
    delay=$((RANDOM % (max + 1)))
    sleep "$delay"
    phase=$(cut_phase "$post_pid" "$known" "$from")
    vm_kill
    kill "$post_pid" 2>/dev/null || true
    wait "$post_pid" 2>/dev/null || true
    echo "=== power cut $i ($kind update, $delay s after the post: $phase); restart" >>"$CONSOLE"
    vm_start "$IMG_WORK/disk.img" "$CONSOLE"
    case "$kind: $phase" in
      "bsp: reboot (INPROGRESS: Rebooting)" | "app: "*"(INPROGRESS: Transitioning"* | "app: "*"(INPROGRESS: Trying"* | \
        "app: testing (TESTING"* | "app: committed (UPDATED"*) must_new=1 ;;
      *) must_new=0 ;;
    esac
    check_after_cut "$prev" "$known" "$must_new"
    if [ -z "$PROBLEMS" ]; then
      echo "cut $i: $kind update cut $delay s after the post, at $phase; booted $REV ($WHICH, $ST); ok in $((SECONDS - t)) s"
      outcome["$kind ${phase%% *} $WHICH"]=$((${outcome["$kind ${phase%% *} $WHICH"]:-0} + 1))
      # continue from what runs
      rm -rf "$IMG_WORK/clone" && mv "$IMG_WORK/verify" "$IMG_WORK/clone"
    else
      fails=$((fails + 1))
      echo "cut $i: $kind update cut $delay s after the post, at $phase; booted ${REV:-?}: FAIL $PROBLEMS"
      sed 's/^/     | /' "$IMG_WORK/probe.txt" | head -n 30
      vm_kill
      cp --sparse=always "$IMG_WORK/disk.img" "$IMG_WORK/cut-$i.img"
      cp "$CONSOLE" "$IMG_WORK/cut-$i.console"
      echo "     (disk image and console kept: $IMG_WORK/cut-$i.img, $IMG_WORK/cut-$i.console)"
      vm_start "$IMG_WORK/disk.img" "$CONSOLE"
      up || true
    fi
  done
  echo "power cuts: $cuts cuts, $fails failures, $((SECONDS - t0)) s ($(((SECONDS - t0) / cuts)) s per cut)"
  echo "outcomes (update kind, phase at the cut, revision booted after: count):"
  local k
  for k in "${!outcome[@]}"; do echo "  $k: ${outcome[$k]}"; done | sort
  if [ "$fails" = 0 ]; then ok "power cuts ($cuts)"; else bad "power cuts: $fails of $cuts failed"; fi
}
