package ingest

import (
	"bytes"
	"strings"
)

// uuFile is one file of a uuencoded block.
type uuFile struct {
	name string
	data []byte
}

// maxUUFiles bounds the "begin" blocks read from one part.
const maxUUFiles = 64

// decodeUUBlocks finds the "begin MODE NAME" ... "end" blocks of uuencoded text (a part sent
// with Content-Transfer-Encoding x-uuencode, or pasted into a plain-text body by Eudora or an
// old Outlook Express) and decodes them; the text outside the blocks is returned too. A block
// without its "end" keeps what was decoded; bad lines are skipped, nothing panics.
func decodeUUBlocks(text []byte) (files []uuFile, rest []byte) {
	var out bytes.Buffer
	var cur *uuFile
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = nil
		}
		t := bytes.TrimRight(line, "\r\n")
		switch {
		case cur == nil:
			if name, ok := uuBegin(t); ok && len(files) < maxUUFiles {
				files = append(files, uuFile{name: name})
				cur = &files[len(files)-1]
				continue
			}
			out.Write(line)
		case bytes.Equal(bytes.TrimSpace(t), []byte("end")):
			cur = nil
		default:
			cur.data = uuDecodeLine(cur.data, t)
		}
	}
	return files, out.Bytes()
}

// uuBegin recognises "begin 644 name" (the mode is three or four octal digits).
func uuBegin(t []byte) (string, bool) {
	s, ok := strings.CutPrefix(string(t), "begin ")
	if !ok {
		return "", false
	}
	mode, name, ok := strings.Cut(s, " ")
	if !ok || len(mode) < 3 || len(mode) > 4 || strings.Trim(mode, "01234567") != "" {
		return "", false
	}
	return strings.TrimSpace(name), true
}

// uuDecodeLine appends the bytes of one uuencoded line: a length character, then four
// characters for each three bytes (" " and "`" are zero).
func uuDecodeLine(dst, t []byte) []byte {
	if len(t) == 0 {
		return dst
	}
	n := int(t[0]-' ') & 63
	if n == 0 {
		return dst
	}
	chars := t[1:]
	for i := 0; n > 0; i += 4 {
		var q [4]byte
		for j := range 4 {
			if i+j < len(chars) {
				q[j] = (chars[i+j] - ' ') & 63
			}
		}
		b := [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		k := min(n, 3)
		dst = append(dst, b[:k]...)
		n -= k
		if i+4 >= len(chars) && n > 0 {
			break // the line is shorter than its length says
		}
	}
	return dst
}
