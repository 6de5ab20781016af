// Package tnef reads the attachments and the body of a TNEF stream (Outlook's "rich text"
// winmail.dat, MIME type application/ms-tnef). No maintained Go module reads it, so this is a
// small, bounded decoder of the parts rmad needs: every length is checked against what is
// left, counts are capped, and truncated or hostile input gives an error, never a panic.
package tnef

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

// Signature is the little-endian magic number a TNEF stream starts with.
const Signature = 0x223e9f78

// Limits of what one stream may hold.
const (
	MaxAttachments = 256
	maxAttributes  = 1 << 16
	maxProps       = 1 << 14
	maxValues      = 1 << 10
)

// ErrNotTNEF is returned for data that does not start with the TNEF signature.
var ErrNotTNEF = errors.New("tnef: not a TNEF stream")

// Attachment is one file inside the stream.
type Attachment struct {
	Name     string // the long file name when there is one, else the 8.3 title
	MIMEType string // PR_ATTACH_MIME_TAG, when the sender's Outlook set it
	Data     []byte // a slice of the input, not a copy
}

// Message is what a stream holds for rmad: the plain or HTML body and the attachments.
type Message struct {
	Body        string // plain text (attBody or PR_BODY; else the text of PR_RTF_COMPRESSED)
	HTML        string // PR_BODY_HTML, when there is no plain body
	Attachments []Attachment
}

// Attribute IDs (level 1 message, level 2 attachment), as MS-OXTNEF numbers them.
const (
	attBody           = 0x0002800c
	attAttachData     = 0x0006800f
	attAttachTitle    = 0x00018010
	attAttachRendData = 0x00069002
	attMsgProps       = 0x00069003
	attAttachment     = 0x00069005
	attOemCodepage    = 0x00069007
)

// MAPI property IDs and types used here.
const (
	prBody          = 0x1000
	prBodyHTML      = 0x1013
	prRTFCompressed = 0x1009
	prAttachDataObj = 0x3701
	prAttachName    = 0x3704
	prAttachLong    = 0x3707
	prAttachMIMETag = 0x370e

	ptString8 = 0x001e
	ptUnicode = 0x001f
	ptBinary  = 0x0102
	ptObject  = 0x000d
	ptCLSID   = 0x0048
	mvFlag    = 0x1000
)

// Decode reads a TNEF stream. A stream cut short gives what was read before the cut and an
// error saying where.
func Decode(data []byte) (*Message, error) {
	r := reader{b: data}
	sig, ok := r.u32()
	if !ok || sig != Signature {
		return nil, ErrNotTNEF
	}
	if _, ok := r.u16(); !ok { // legacy key
		return nil, fmt.Errorf("tnef: truncated after the signature")
	}
	m := &Message{}
	var rtf []byte // PR_RTF_COMPRESSED: read once the stream has no plain or HTML body
	var cur *Attachment
	codepage := charmap.Windows1252
	for n := 0; r.left() > 0; n++ {
		if n >= maxAttributes {
			return m, fmt.Errorf("tnef: more than %d attributes", maxAttributes)
		}
		at := r.off
		level, ok1 := r.u8()
		id, ok2 := r.u32()
		size, ok3 := r.u32()
		if !ok1 || !ok2 || !ok3 {
			return m, fmt.Errorf("tnef: attribute header cut short at byte %d", at)
		}
		val, ok := r.bytes(int(size))
		if !ok || size > uint32(len(data)) {
			return m, fmt.Errorf("tnef: attribute %#08x at byte %d claims %d bytes, %d are left", id, at, size, r.left())
		}
		if _, ok := r.u16(); !ok { // checksum: not checked, partners' Outlooks get it right or not
			return m, fmt.Errorf("tnef: checksum of attribute %#08x cut short", id)
		}
		switch {
		case id == attOemCodepage && len(val) >= 4:
			if binary.LittleEndian.Uint32(val) == 1253 {
				codepage = charmap.Windows1253
			} else if binary.LittleEndian.Uint32(val) == 1250 {
				codepage = charmap.Windows1250
			}
		case id == attBody && level == 1:
			m.Body = string8(val, codepage)
		case id == attAttachRendData:
			if len(m.Attachments) >= MaxAttachments {
				return m, fmt.Errorf("tnef: more than %d attachments", MaxAttachments)
			}
			m.Attachments = append(m.Attachments, Attachment{})
			cur = &m.Attachments[len(m.Attachments)-1]
		case id == attAttachTitle && cur != nil:
			if cur.Name == "" {
				cur.Name = string8(val, codepage)
			}
		case id == attAttachData && cur != nil:
			cur.Data = val
		case id == attAttachment && cur != nil:
			if err := readProps(val, codepage, func(pid uint16, s string, b []byte) {
				switch pid {
				case prAttachLong:
					if s != "" {
						cur.Name = s
					}
				case prAttachName:
					if cur.Name == "" {
						cur.Name = s
					}
				case prAttachMIMETag:
					cur.MIMEType = s
				case prAttachDataObj:
					if cur.Data == nil {
						cur.Data = b
					}
				}
			}); err != nil {
				return m, err
			}
		case id == attMsgProps && level == 1:
			if err := readProps(val, codepage, func(pid uint16, s string, b []byte) {
				switch pid {
				case prBody:
					if m.Body == "" {
						m.Body = s
					}
				case prBodyHTML:
					if s == "" {
						s = string(b)
					}
					m.HTML = s
				case prRTFCompressed:
					rtf = b
				}
			}); err != nil {
				return m, err
			}
		}
	}
	if m.Body == "" && m.HTML == "" && rtf != nil {
		raw, err := DecompressRTF(rtf)
		m.Body = RTFText(raw)
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// readProps walks a MAPI property list (MS-OXTNEF 2.1.3.4) and calls found with each string or
// binary value's property ID, its text (strings) and its bytes (binary, object).
func readProps(b []byte, cp *charmap.Charmap, found func(id uint16, s string, data []byte)) error {
	r := reader{b: b}
	count, ok := r.u32()
	if !ok {
		return errors.New("tnef: property list cut short")
	}
	if count > maxProps {
		return fmt.Errorf("tnef: %d properties in one list", count)
	}
	for i := uint32(0); i < count; i++ {
		typ, ok1 := r.u16()
		id, ok2 := r.u16()
		if !ok1 || !ok2 {
			return errors.New("tnef: property cut short")
		}
		if id >= 0x8000 { // a named property: GUID, kind, then an ID or a name
			if _, ok := r.bytes(16); !ok {
				return errors.New("tnef: named property cut short")
			}
			kind, ok := r.u32()
			if !ok {
				return errors.New("tnef: named property cut short")
			}
			if kind == 0 {
				if _, ok := r.u32(); !ok {
					return errors.New("tnef: named property cut short")
				}
			} else {
				n, ok := r.u32()
				if !ok || !r.skipPadded(int(n)) {
					return errors.New("tnef: property name cut short")
				}
			}
		}
		base := typ &^ mvFlag
		values := uint32(1)
		variable := base == ptString8 || base == ptUnicode || base == ptBinary || base == ptObject
		if typ&mvFlag != 0 || variable {
			n, ok := r.u32()
			if !ok {
				return errors.New("tnef: value count cut short")
			}
			values = n
		}
		if values > maxValues {
			return fmt.Errorf("tnef: %d values in one property", values)
		}
		for v := uint32(0); v < values; v++ {
			if !variable {
				if !r.skip(fixedSize(base)) {
					return fmt.Errorf("tnef: value of property %#04x cut short", id)
				}
				continue
			}
			n, ok := r.u32()
			if !ok || n > uint32(r.left()) {
				return fmt.Errorf("tnef: value of property %#04x cut short", id)
			}
			val, _ := r.bytes(int(n))
			r.skip((4 - int(n)%4) % 4)
			switch base {
			case ptString8:
				found(id, string8(val, cp), nil)
			case ptUnicode:
				found(id, utf16le(val), nil)
			case ptObject:
				if len(val) >= 16 { // an object starts with its interface ID
					found(id, "", val[16:])
				}
			default:
				found(id, "", val)
			}
		}
	}
	return nil
}

// fixedSize is the size in the stream of one value of a fixed-size MAPI type.
func fixedSize(t uint16) int {
	switch t {
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // double, currency, apptime, int64, systime
		return 8
	case ptCLSID:
		return 16
	}
	return 4 // short and boolean are padded to 4; long, float, error, null
}

// string8 decodes a NUL-terminated 8-bit string in the stream's code page.
func string8(b []byte, cp *charmap.Charmap) string {
	if i := indexNUL(b); i >= 0 {
		b = b[:i]
	}
	out, err := cp.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(out)
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// utf16le decodes a NUL-terminated UTF-16LE string.
func utf16le(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\ufffd")
}

// reader reads little-endian values from a byte slice; every method reports false instead of
// reading past the end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) bytes(n int) ([]byte, bool) {
	if n < 0 || n > r.left() {
		return nil, false
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v, true
}

func (r *reader) skip(n int) bool {
	_, ok := r.bytes(n)
	return ok
}

// skipPadded skips n bytes and the padding to a multiple of 4.
func (r *reader) skipPadded(n int) bool {
	if n < 0 || n > r.left() {
		return false
	}
	return r.skip(n + (4-n%4)%4)
}

func (r *reader) u8() (uint8, bool) {
	b, ok := r.bytes(1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (r *reader) u16() (uint16, bool) {
	b, ok := r.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func (r *reader) u32() (uint32, bool) {
	b, ok := r.bytes(4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}
