#!/usr/bin/env bash
# make deb-test (called by .ci/run): builds the .deb for this machine's architecture, checks its
# control data, contents (modes, owners, conffiles) and lintian, then installs it for real with
# dpkg, checks the user, the files, rmad version and the unit (systemd-analyze verify and
# security, both offline: no systemd needed as PID 1), upgrades to a rebuilt package with a
# newer version keeping the edited config, removes and purges it.
# Run as root on a throwaway machine (CI); it purges what it installed even when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "run as root: the test installs and purges the rmad package (CI runs it as root)"
if dpkg-query -W -f '${Status}' rmad 2>/dev/null | grep -qv not-installed || getent passwd rmad >/dev/null || [ -e /etc/rmad ]; then
  fail "rmad is already installed here (package, user or /etc/rmad): the test would purge it; run it on a throwaway machine"
fi
need_pkg lintian lintian
need_pkg adduser adduser
need_pkg man man-db
need_pkg systemd-analyze systemd

work=$(mktemp -d /tmp/rmad-deb-test.XXXXXX)
cleanup() {
  if dpkg-query -W rmad >/dev/null 2>&1; then dpkg --purge rmad >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

arch=$(dpkg --print-architecture)
v1=$(bash scripts/version.sh)
v2="$v1.1"
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 does not sort after $v1"

step "build rmad $v1 and $v2 for $arch"
DIST=$work/v1 VERSION=$v1 bash packaging/build-deb.sh "$arch" >/dev/null
DIST=$work/v2 VERSION=$v2 bash packaging/build-deb.sh "$arch" >/dev/null
deb1=$work/v1/rmad_${v1}_$arch.deb
deb2=$work/v2/rmad_${v2}_$arch.deb
[ -f "$deb1" ] && [ -f "$deb2" ] || fail "make deb did not write $deb1 and $deb2"

step "dpkg-deb --info"
dpkg-deb --info "$deb1"
for want in "Package=rmad" "Version=$v1" "Architecture=$arch" "Depends=adduser" "Recommends=redis-server" "Section=mail"; do
  field=${want%%=*}
  got=$(dpkg-deb --field "$deb1" "$field")
  [ "$got" = "${want#*=}" ] || fail "control field $field is '$got', want '${want#*=}'"
done
[ "$(dpkg-deb --info "$deb1" conffiles)" = /etc/rmad/config.yaml ] || fail "conffiles: $(dpkg-deb --info "$deb1" conffiles)"
dpkg-deb --control "$deb1" "$work/control"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "no executable $s maintainer script"
  sh -n "$work/control/$s" || fail "$s is not valid sh"
done

step "dpkg-deb --contents"
dpkg-deb --contents "$deb1"
dpkg-deb --contents "$deb1" | awk '{ print $1, $2, $6 }' | sort -k3 >"$work/contents"
cat >"$work/want" <<'EOF'
-rwxr-xr-x root/root ./usr/bin/rmad
-rw-r--r-- root/root ./lib/systemd/system/rmad.service
drwxr-x--- root/root ./etc/rmad/
drwxr-x--- root/root ./etc/rmad/secrets/
-rw-r----- root/root ./etc/rmad/config.yaml
-rw-r--r-- root/root ./usr/share/man/man8/rmad.8.gz
-rw-r--r-- root/root ./usr/share/bash-completion/completions/rmad
-rw-r--r-- root/root ./usr/share/lintian/overrides/rmad
-rw-r--r-- root/root ./usr/share/doc/rmad/README.md
-rw-r--r-- root/root ./usr/share/doc/rmad/copyright
-rw-r--r-- root/root ./usr/share/doc/rmad/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/rmad/examples/config.example.yaml
-rw-r--r-- root/root ./usr/share/doc/rmad/examples/partners.yaml
-rw-r--r-- root/root ./usr/share/doc/rmad/examples/catalog.csv
-rw-r--r-- root/root ./usr/share/doc/rmad/examples/sales.csv
EOF
while read -r line; do
  grep -qxF -e "$line" "$work/contents" || fail "the package lacks: $line"
done <"$work/want"
# Nothing else but the usual root-owned 0755 directories above those files.
extra=$(grep -vxF -f "$work/want" "$work/contents" | grep -v '^drwxr-xr-x root/root ' || true)
[ -z "$extra" ] || fail "unexpected entries in the package:"$'\n'"$extra"

step "the packaged files"
dpkg-deb --extract "$deb1" "$work/x"
go version -m "$work/x/usr/bin/rmad" | grep -q 'CGO_ENABLED=0' || fail "/usr/bin/rmad is not built with CGO_ENABLED=0"
"$work/x/usr/bin/rmad" version | grep -qF "rmad $v1 (" || fail "the packaged rmad version prints: $("$work/x/usr/bin/rmad" version)"
cmp -s "$work/x/etc/rmad/config.yaml" config.example.yaml || fail "/etc/rmad/config.yaml is not config.example.yaml"
grep -qx 'ExecStart=/usr/bin/rmad run --config /etc/rmad/config.yaml' "$work/x/lib/systemd/system/rmad.service" ||
  fail "the packaged unit does not run /usr/bin/rmad"
if grep -q '^Exec.*/usr/local/' "$work/x/lib/systemd/system/rmad.service"; then fail "the packaged unit runs something in /usr/local"; fi
grep -q 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$work/x/usr/share/doc/rmad/copyright" ||
  fail "copyright is not in the machine-readable format"
manerr=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$work/x/usr/share/man/man8/rmad.8.gz" 2>&1 >"$work/man.txt") || fail "man: $manerr"
[ -z "$manerr" ] || fail "man --warnings on rmad(8):"$'\n'"$manerr"
grep -q 'rmad check-config' "$work/man.txt" || fail "rmad(8) does not show the commands"

step "lintian"
lintian --fail-on error --display-level '>=warning' --info "$deb1" || fail "lintian reports errors"

step "dpkg -i rmad $v1"
dpkg -i "$deb1" </dev/null >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i failed"; }
cat "$work/install.log"
grep -q 'rmad: not started: /etc/rmad/config.yaml is not ready yet' "$work/install.log" &&
  grep -qF 'imap[0].address: "imap.example.com:993" is a placeholder' "$work/install.log" ||
  fail "postinst did not say that the untouched example keeps rmad from starting, and why"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd rmad) || fail "no rmad user"
[ "$uid" -lt 1000 ] || fail "rmad is not a system user (uid $uid)"
[ "$(getent group rmad | cut -d: -f3)" = "$gid" ] || fail "rmad's primary group is not rmad"
[ "$home" = /nonexistent ] && [ "$shell" = /usr/sbin/nologin ] || fail "rmad's home/shell are $home $shell"
for want in "2750 root:rmad /etc/rmad" "2750 root:rmad /etc/rmad/secrets" "640 root:rmad /etc/rmad/config.yaml"; do
  got=$(stat -c '%a %U:%G %n' "${want##* }")
  [ "$got" = "$want" ] || fail "installed: $got, want $want"
done
[ "$(command -v rmad)" = /usr/bin/rmad ] || fail "rmad is not /usr/bin/rmad"
rmad version | grep -qF "rmad $v1 (" || fail "rmad version prints: $(rmad version)"
if rmad check-config >"$work/check.out" 2>&1; then fail "check-config passes the untouched example"; fi
grep -qF 'imap[0].address: "imap.example.com:993" is a placeholder' "$work/check.out" ||
  fail "check-config on the untouched example does not name the placeholders:"$'\n'"$(cat "$work/check.out")"
[ -L /etc/systemd/system/multi-user.target.wants/rmad.service ] || fail "rmad.service is not enabled"
if [ -d /run/systemd/system ] && systemctl is-active --quiet rmad; then fail "rmad was started with the untouched example"; fi
out=$(bash -c 'source /usr/share/bash-completion/completions/rmad; COMP_WORDS=(rmad check); COMP_CWORD=1; _rmad; echo "${COMPREPLY[*]}"')
[ "$out" = check-config ] || fail "bash completion of 'rmad check' offers '$out'"

step "systemd-analyze verify and security of /lib/systemd/system/rmad.service"
verify=$(systemd-analyze verify /lib/systemd/system/rmad.service 2>&1) || fail "systemd-analyze verify:"$'\n'"$verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns:"$'\n'"$verify"
# The README's claim for the sandbox: exposure 1.1 "OK" (threshold on systemd's 0-100 scale).
systemd-analyze security --offline=true --threshold=11 /lib/systemd/system/rmad.service >"$work/security.txt" 2>&1 ||
  fail "systemd-analyze security rates the unit above 1.1:"$'\n'"$(tail -3 "$work/security.txt")"
tail -1 "$work/security.txt"

step "fill in the config as an admin would, then upgrade to $v2"
sed -i -e 's/example\.com/distributor.test/g' -e 's/\.example\b/.test/g' /etc/rmad/config.yaml
echo "# edited by deb-test" >>/etc/rmad/config.yaml
# Plain copies and redirections, as root with umask 077: the setgid folders give them group rmad.
(
  umask 077
  cp /usr/share/doc/rmad/examples/{partners.yaml,catalog.csv,sales.csv} /etc/rmad/
  for s in imap-partners smtp; do echo "password-$s" >"/etc/rmad/secrets/$s"; done
  for s in webhook-dji webhook-portal; do echo "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" >"/etc/rmad/secrets/$s"; done
)
for f in /etc/rmad/partners.yaml /etc/rmad/secrets/smtp; do
  [ "$(stat -c %G "$f")" = rmad ] || fail "$f was created with group $(stat -c %G "$f"), not rmad"
done
chmod 0640 /etc/rmad/{partners.yaml,catalog.csv,sales.csv} /etc/rmad/secrets/*
cp /etc/rmad/config.yaml "$work/edited.yaml"
# The unit runs rmad as rmad: that user must read the config, data files and secrets.
setpriv --reuid=rmad --regid=rmad --init-groups rmad check-config >"$work/check.out" 2>&1 ||
  fail "check-config as the rmad user fails on the filled-in config:"$'\n'"$(cat "$work/check.out")"
# A secret only root can read: the unit's rmad user could not start, so postinst holds back.
chmod 0600 /etc/rmad/secrets/smtp
dpkg -i "$deb2" </dev/null >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dpkg -i (upgrade) failed"; }
cat "$work/upgrade.log"
grep -q 'rmad: not started' "$work/upgrade.log" && grep -q 'smtp.password_file: cannot read secret file' "$work/upgrade.log" ||
  fail "postinst did not hold back an rmad whose user cannot read a secret"
chmod 0640 /etc/rmad/secrets/smtp
dpkg -i "$deb2" </dev/null >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dpkg -i (reinstall) failed"; }
cat "$work/upgrade.log"
if grep -q 'not started' "$work/upgrade.log"; then fail "postinst held back a configured rmad"; fi
[ "$(dpkg-query -W -f '${Version}' rmad)" = "$v2" ] || fail "installed version is $(dpkg-query -W -f '${Version}' rmad), want $v2"
rmad version | grep -qF "rmad $v2 (" || fail "after the upgrade rmad version prints: $(rmad version)"
cmp -s /etc/rmad/config.yaml "$work/edited.yaml" || fail "the upgrade changed the edited /etc/rmad/config.yaml"
ls /etc/rmad/config.yaml.dpkg-* 2>/dev/null && fail "the upgrade left a .dpkg-* copy of the config"
[ "$(stat -c '%a %U:%G' /etc/rmad/config.yaml)" = "640 root:rmad" ] || fail "after the upgrade: $(stat -c '%a %U:%G' /etc/rmad/config.yaml)"
[ "$(id -u rmad)" = "$uid" ] || fail "the upgrade changed rmad's uid"

step "dpkg --remove: the program goes, the config and the admin's files stay"
dpkg --remove rmad
[ ! -e /usr/bin/rmad ] && [ ! -e /lib/systemd/system/rmad.service ] || fail "remove left the program or the unit"
cmp -s /etc/rmad/config.yaml "$work/edited.yaml" || fail "remove changed /etc/rmad/config.yaml"
[ -f /etc/rmad/partners.yaml ] && [ -f /etc/rmad/secrets/smtp ] || fail "remove deleted the admin's files"
getent passwd rmad >/dev/null || fail "remove deleted the rmad user"

step "dpkg --purge: everything goes"
dpkg --purge rmad
[ ! -e /etc/rmad ] || fail "purge left /etc/rmad: $(find /etc/rmad)"
if getent passwd rmad >/dev/null || getent group rmad >/dev/null; then fail "purge left the rmad user or group"; fi
if dpkg-statoverride --list | grep -q ' /etc/rmad'; then fail "purge left dpkg-statoverride entries"; fi
left=$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
  -name 'rmad.service*' 2>/dev/null || true)
[ -z "$left" ] || fail "purge left unit links or state: $left"
if dpkg-query -W rmad >/dev/null 2>&1; then fail "dpkg still knows rmad"; fi

echo "deb-test: OK (rmad $v1 → $v2 on $arch: contents, lintian, install, verify, upgrade, remove, purge)"
