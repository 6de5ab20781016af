#!/usr/bin/env bash
# Regenerates label/font/DejaVuSans-subset.ttf, the font of the parcel labels, from Debian's
# fonts-dejavu-core with pyftsubset (Debian fonttools). Only a developer changing the covered
# characters runs this; the result is committed, so builds and CI need neither package.
# Covered: Latin (Basic, Latin-1, Extended-A and -B: ș ț with comma below), Greek, Cyrillic,
# general punctuation, € and №. Hinting and layout tables are dropped: the PDF writer uses
# neither, and the PDF embeds only the glyphs a label uses.
set -euo pipefail
cd "$(dirname "$0")/.."
src=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -r "$src" ] || { echo "missing $src: apt-get install fonts-dejavu-core" >&2; exit 1; }
command -v pyftsubset >/dev/null || { echo "missing pyftsubset: apt-get install fonttools" >&2; exit 1; }
pyftsubset "$src" \
  --unicodes='U+0020-007E,U+00A0-024F,U+0370-03FF,U+0400-045F,U+2010-2027,U+2030-203A,U+20AC,U+2116,U+2122' \
  --no-hinting --layout-features='' --drop-tables+=FFTM --name-IDs='*' --name-languages='*' \
  --output-file=label/font/DejaVuSans-subset.ttf
cp /usr/share/doc/fonts-dejavu-core/copyright label/font/LICENSE
