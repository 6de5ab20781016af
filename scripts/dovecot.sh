#!/usr/bin/env bash
# Sourced by scripts/test.sh after scripts/services.sh: start_dovecot DIR runs a private Dovecot
# (IMAP only, plaintext on 127.0.0.1, one passwd-file user "rmad" with a random password, maildir
# in DIR) in the foreground, adds its pid to PIDS so stop_services stops it, and exports
# RMAD_TEST_IMAP=127.0.0.1:PORT, RMAD_TEST_IMAP_USER and RMAD_TEST_IMAP_PASS for internal/testenv.
#
# Written for Dovecot 2.3 (Debian bookworm's 2.3.19); 2.4 renamed most settings and is refused
# with a clear message rather than started with a config it would misread.

start_dovecot() { # start_dovecot DIR
  local dir=$1 bin port pass ver mail_user mail_group login_user internal_user
  bin=$(command -v dovecot || echo /usr/sbin/dovecot)
  [ -x "$bin" ] || { echo "dovecot is not installed (Debian package dovecot-imapd)" >&2; return 1; }
  ver=$("$bin" --version | cut -d' ' -f1)
  case $ver in
    2.3.*) ;;
    *) echo "scripts/dovecot.sh writes a Dovecot 2.3 config; found Dovecot $ver" >&2; return 1 ;;
  esac

  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  dir=$(cd "$dir" && pwd)
  port=$(free_port)
  pass=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')

  # As root Dovecot drops privileges: login and internal processes run as the packaged
  # unprivileged users, mail as the owner of the maildir (never uid 0, which Dovecot refuses).
  # As another user everything runs as that user.
  if [ "$(id -u)" = 0 ]; then
    login_user=dovenull; internal_user=dovecot
    getent passwd dovenull >/dev/null || login_user=nobody
    getent passwd dovecot >/dev/null || internal_user=nobody
    mail_user=$internal_user
    mail_group=$(id -gn "$mail_user")
    chown -R "$mail_user:$mail_group" "$dir/mail"
    # Those users must traverse to DIR (auth reads the passwd-file, imap the maildir), and
    # mktemp makes test dirs 0700: grant search (x) only, never listing, on each ancestor.
    local d=$dir
    while [ "$d" != / ]; do
      [ -n "$(find "$d" -maxdepth 0 -perm -o+x)" ] || chmod o+x "$d"
      d=$(dirname "$d")
    done
  else
    login_user=$(id -un); internal_user=$login_user
    mail_user=$login_user; mail_group=$(id -gn)
  fi

  printf 'rmad:{PLAIN}%s::::::\n' "$pass" >"$dir/passwd"
  chmod 0644 "$dir/passwd"

  # The config is internal/testenv/dovecot.conf.in, shared with testenv.OAuthDovecot.
  sed -e "s|@DIR@|$dir|g" -e "s|@PROTOCOLS@|imap|g" -e "s|@MECHANISMS@|plain login|g" \
    -e "s|@LOGIN_USER@|$login_user|g" -e "s|@INTERNAL_USER@|$internal_user|g" \
    -e "s|@MAIL_USER@|$mail_user|g" -e "s|@MAIL_GROUP@|$mail_group|g" \
    -e "s|@PASSDB_DRIVER@|passwd-file|g" -e "s|@PASSDB_ARGS@|scheme=PLAIN username_format=%u $dir/passwd|g" \
    -e "s|@PORT@|$port|g" "$(dirname "${BASH_SOURCE[0]}")/../internal/testenv/dovecot.conf.in" >"$dir/dovecot.conf"

  if ! "$bin" -c "$dir/dovecot.conf" -n >"$dir/dovecot-n.txt" 2>&1; then
    echo "dovecot rejects its test config:" >&2; cat "$dir/dovecot-n.txt" >&2; return 1
  fi
  "$bin" -F -c "$dir/dovecot.conf" >>"$dir/dovecot.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export RMAD_TEST_IMAP="127.0.0.1:$port" RMAD_TEST_IMAP_USER=rmad RMAD_TEST_IMAP_PASS=$pass
      return 0
    fi
    sleep 0.1
  done
  echo "dovecot did not start; its log:" >&2; cat "$dir/dovecot.log" >&2; return 1
}
