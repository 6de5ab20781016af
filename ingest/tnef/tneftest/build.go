// Package tneftest assembles TNEF streams byte by byte for tests, as Outlook writes them.
package tneftest

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
)

// Attribute and property IDs tests use (MS-OXTNEF).
const (
	Signature         = 0x223e9f78
	AttBody           = 0x0002800c
	AttAttachData     = 0x0006800f
	AttAttachTitle    = 0x00018010
	AttAttachRendData = 0x00069002
	AttMsgProps       = 0x00069003
	AttAttachment     = 0x00069005
	AttOemCodepage    = 0x00069007
	AttTnefVersion    = 0x00089006

	PrBodyHTML      = 0x1013
	PrAttachLong    = 0x3707
	PrAttachMIMETag = 0x370e
	PtUnicode       = 0x001f
)

// Stream is a TNEF file being assembled.
type Stream struct{ bytes.Buffer }

// NewStream starts a stream: signature and legacy key.
func NewStream() *Stream {
	s := &Stream{}
	_ = binary.Write(s, binary.LittleEndian, uint32(Signature))
	_ = binary.Write(s, binary.LittleEndian, uint16(0x1234))
	return s
}

// Attr appends one attribute with its length and checksum.
func (s *Stream) Attr(level byte, id uint32, data []byte) *Stream {
	s.WriteByte(level)
	_ = binary.Write(s, binary.LittleEndian, id)
	_ = binary.Write(s, binary.LittleEndian, uint32(len(data)))
	s.Write(data)
	var sum uint16
	for _, b := range data {
		sum += uint16(b)
	}
	_ = binary.Write(s, binary.LittleEndian, sum)
	return s
}

// Props is a MAPI property list.
type Props struct {
	bytes.Buffer
	n uint32
}

// Unicode appends a PT_UNICODE property.
func (p *Props) Unicode(id uint16, s string) *Props {
	u := utf16.Encode([]rune(s + "\x00"))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return p.Variable(PtUnicode, id, b)
}

// Variable appends a one-valued property of a variable-size type.
func (p *Props) Variable(typ, id uint16, b []byte) *Props {
	p.n++
	_ = binary.Write(p, binary.LittleEndian, typ)
	_ = binary.Write(p, binary.LittleEndian, id)
	_ = binary.Write(p, binary.LittleEndian, uint32(1))
	_ = binary.Write(p, binary.LittleEndian, uint32(len(b)))
	p.Write(b)
	p.Write(make([]byte, (4-len(b)%4)%4))
	return p
}

// Long appends a PT_LONG property.
func (p *Props) Long(id uint16, v uint32) *Props {
	p.n++
	_ = binary.Write(p, binary.LittleEndian, uint16(0x0003))
	_ = binary.Write(p, binary.LittleEndian, id)
	_ = binary.Write(p, binary.LittleEndian, v)
	return p
}

// Named appends a named PT_LONG property (GUID, kind 1, name).
func (p *Props) Named(id uint16, name string) *Props {
	p.n++
	_ = binary.Write(p, binary.LittleEndian, uint16(0x0003))
	_ = binary.Write(p, binary.LittleEndian, id)
	p.Write(make([]byte, 16)) // GUID
	_ = binary.Write(p, binary.LittleEndian, uint32(1))
	_ = binary.Write(p, binary.LittleEndian, uint32(len(name)))
	p.WriteString(name)
	p.Write(make([]byte, (4-len(name)%4)%4))
	_ = binary.Write(p, binary.LittleEndian, uint32(7))
	return p
}

// Bytes is the property list: its count, then the properties.
func (p *Props) Bytes() []byte {
	out := binary.LittleEndian.AppendUint32(nil, p.n)
	return append(out, p.Buffer.Bytes()...)
}

// CompressRTF wraps rtf as Outlook's compressed RTF (MS-OXRTFCP) made of literals only, with the
// end marker: a valid stream for any decoder, if not a small one.
func CompressRTF(rtf []byte) []byte {
	const prebuf = 207 // the dictionary's preset text: the write position starts after it
	var body bytes.Buffer
	w := prebuf
	for i := 0; i < len(rtf); i += 8 {
		chunk := rtf[i:min(i+8, len(rtf))]
		ctrl := byte(0)
		if len(chunk) < 8 {
			ctrl = 1 << len(chunk) // the end marker: a reference to the write position
		}
		body.WriteByte(ctrl)
		body.Write(chunk)
		w = (w + len(chunk)) % 4096
		if len(chunk) < 8 {
			body.WriteByte(byte(w >> 4))
			body.WriteByte(byte(w << 4))
		}
	}
	if len(rtf)%8 == 0 {
		body.WriteByte(1)
		body.WriteByte(byte(w >> 4))
		body.WriteByte(byte(w << 4))
	}
	var out bytes.Buffer
	_ = binary.Write(&out, binary.LittleEndian, uint32(body.Len()+12))
	_ = binary.Write(&out, binary.LittleEndian, uint32(len(rtf)))
	_ = binary.Write(&out, binary.LittleEndian, uint32(0x75465a4c))
	_ = binary.Write(&out, binary.LittleEndian, uint32(0)) // CRC: not checked by readers here
	out.Write(body.Bytes())
	return out.Bytes()
}
