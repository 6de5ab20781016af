#!/usr/bin/env bash
# Prints /usr/share/doc/rmad/copyright (Debian's machine-readable format): rmad's licence, then
# the licence of the Go standard library and of every Go module linked into /usr/bin/rmad,
# quoted in full from the module cache (MIT, BSD and Apache all ask for that with binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

# indent TEXT-FILE...: the files as a field's continuation lines (" text", " ." for blank).
indent() {
  cat "$@" | sed -e 's/[[:space:]]*$//' -e 's/\t/        /g' | awk '
    NF { for (; blank > 0; blank--) if (started) print " ."; started = 1; print " " $0; next }
    { blank++ }'
}

# licence_id FILE: the Debian short name of the licence text in FILE.
licence_id() {
  local f=$1
  if grep -q 'Apache License' "$f" && grep -q 'Version 2.0' "$f"; then
    if grep -q 'Permission is hereby granted' "$f"; then echo "Expat and Apache-2.0"; else echo "Apache-2.0"; fi
  elif grep -q 'Permission is hereby granted' "$f"; then echo "Expat"
  elif grep -q 'Redistribution and use' "$f"; then
    if grep -Eq 'Neither the name|names of its contributors' "$f"; then echo "BSD-3-clause"; else echo "BSD-2-clause"; fi
  else echo "other"
  fi
}

# copyrights NAME FILE...: the Copyright lines of the files, else "the NAME authors".
copyrights() {
  local name=$1; shift
  local lines
  lines=$(grep -hiE '^[[:space:]]*copyright[[:space:]]*(\(c\)|©|[0-9])' "$@" 2>/dev/null | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | awk '!seen[$0]++')
  [ -n "$lines" ] || lines="the $name authors"
  echo "$lines" | sed '2,$s/^/ /'
}

apache=" On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0."

# stanza PATTERN NAME COMMENT DIR: a Files paragraph for the licence (and NOTICE) found in DIR.
stanza() {
  local pattern=$1 name=$2 comment=$3 dir=$4 lic notice id
  lic=$(find "$dir" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' \) | sort | head -1)
  notice=$(find "$dir" -maxdepth 1 -type f -iname 'notice*' | sort | head -1)
  if [ -z "$lic" ]; then
    echo "copyright.sh: no licence file in $dir ($name)" >&2; return 1
  fi
  echo
  echo "Files: $pattern"
  echo "Copyright: $(copyrights "$name" "$lic" ${notice:+"$notice"})"
  id=$(licence_id "$lic")
  echo "License: $id"
  # Debian has the Apache licence in common-licenses: point there instead of quoting it.
  if grep -q 'TERMS AND CONDITIONS FOR USE, REPRODUCTION' "$lic"; then
    echo "$apache"
  else
    indent "$lic"
    [[ $id != *Apache* ]] || { echo " ."; echo "$apache"; }
  fi
  echo "Comment: $comment"
  if [ -n "$notice" ]; then
    echo " Its NOTICE file:"
    indent "$notice"
  fi
}

cat <<HEAD
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rmad
Source: https://github.com/rmad/rmad
Comment: /usr/bin/rmad is a static Go binary. Besides rmad's own code it contains the Go
 standard library and the Go modules listed below, each under its own licence, quoted in full.

Files: *
Copyright: $(copyrights rmad LICENSE)
License: Expat
HEAD
indent LICENSE
stanza "go/*" "Go" "The Go standard library and runtime, $(go env GOVERSION)." "$(go env GOROOT)"
go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/rmad |
  sort -u | while read -r path ver dir; do
    stanza "$path/*" "$path" "Go module $path $ver." "$dir"
  done
