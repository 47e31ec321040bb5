#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) and checks what an operator would install:
# unpacks it with `dpkg-deb -x`, checks its files, conffiles and postinst, verifies the unit
# with `systemd-analyze verify` against the unpacked tree, compiles a C program with
# `pkg-config --cflags --libs callgate` against the unpacked header and library, and runs it
# against the packaged daemon (its feed, demo directory): one libcallgate check must allow.
#
#   scripts/check-package.sh      # run by scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

built=$(scripts/package.sh 2>/dev/null)
deb=$(grep '\.deb ' <<<"$built" | head -n 1 | cut -d' ' -f1)
[ -f "$deb" ] || { echo "check-package: no package built" >&2; exit 1; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
root="$work/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$work/control"

fail() { echo "check-package: $*" >&2; exit 1; }
for f in usr/bin/callgate usr/lib/libcallgate.so usr/lib/libcallgate.a usr/include/callgate.h \
    usr/lib/pkgconfig/callgate.pc etc/callgate/callgate.toml usr/lib/systemd/system/callgate.service \
    usr/lib/sysusers.d/callgate.conf usr/share/man/man1/callgate.1* \
    usr/share/bash-completion/completions/callgate usr/share/zsh/vendor-completions/_callgate \
    usr/share/fish/vendor_completions.d/callgate.fish \
    usr/share/callgate/prometheus/callgate-alerts.yml usr/share/callgate/grafana/callgate-dashboard.json; do
    # shellcheck disable=SC2086
    compgen -G "$root/$f" >/dev/null || fail "missing /$f"
done
[ -x "$root/usr/bin/callgate" ] || fail "/usr/bin/callgate is not executable"
grep -qx /etc/callgate/callgate.toml "$work/control/conffiles" || fail "callgate.toml is not a conffile"
grep -q systemd-sysusers "$work/control/postinst" || fail "postinst does not create the callgate user"
grep -q "^Depends:.*systemd" "$work/control/control" || fail "the package does not depend on systemd"
"$root/usr/bin/callgate" --version >/dev/null || fail "the packaged binary does not run"

# The unit as packaged, with ExecStart pointed at the unpacked binary (verify checks that the
# executable exists); any warning about the unit itself fails the check.
grep -q '^ExecStart=/usr/bin/callgate ' "$root/usr/lib/systemd/system/callgate.service" \
    || fail "the unit does not run /usr/bin/callgate"
sed "s|^ExecStart=/usr/bin/callgate |ExecStart=$root/usr/bin/callgate |" \
    "$root/usr/lib/systemd/system/callgate.service" >"$work/callgate.service"
if ! SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$work/callgate.service" 2>"$work/verify.log" \
    || grep -q "callgate.service" "$work/verify.log"; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify refused the unit"
fi

# A C program built the way a PBX module would be, against the unpacked tree only.
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$work/check" packaging/test/check.c $(pkg-config --cflags --libs callgate)

# The packaged daemon on the demo directory, with a feed socket for the program.
"$root/usr/bin/callgate" --db "sqlite://$work/store.db" serve --demo \
    --http 127.0.0.1:0 --sip 127.0.0.1:0 --feed "$work/feed.sock" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -S "$work/feed.sock" ] && break; sleep 0.05; done
[ -S "$work/feed.sock" ] || { cat "$work/serve.log" >&2; fail "the packaged daemon never opened its feed"; }
LD_LIBRARY_PATH="$root/usr/lib" "$work/check" "$work/feed.sock" || fail "the C check against the package failed"
echo "check-package: $deb ok"
