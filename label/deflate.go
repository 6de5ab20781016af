package label

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// fpdf compresses each page's content with a zlib writer of its own: about 1.2 MB allocated
// and cleared per page, most of what a label cost, and fpdf offers no way to reuse one. So
// labels are rendered uncompressed and deflateStreams compresses their content streams after,
// with pooled writers (Reset keeps a writer's memory; klauspost/compress's level 1 is 2-2.5x
// faster than the standard library's BestSpeed on a page of labels, and 7 % smaller). It walks
// fpdf's output by its cross-reference table, object by object, and writes the table anew for
// the shorter objects; nothing is searched for inside the bytes of a stream.

// deflater is a pooled zlib writer and the buffer it compresses a stream into.
type deflater struct {
	zw  *zlib.Writer
	buf bytes.Buffer
}

var deflaters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // a valid level: no error
	return &deflater{zw: zw}
}}

// pdfObject is one object of a PDF: its number and where it starts.
type pdfObject struct{ num, off int }

// pdfLayout is the structure of a PDF as fpdf writes it: a header, the objects one after the
// other, the cross-reference table (one subsection from object 0, entries of 20 bytes), the
// trailer and startxref.
type pdfLayout struct {
	objects []pdfObject // in the order of their offsets
	xref    int         // offset of the cross-reference table
	size    int         // number of entries in it, object 0 included
	trailer []byte      // from "trailer" up to "startxref"
	tail    []byte      // after startxref's number ("\n%%EOF\n")
}

// layoutOf reads the structure of pdf; ok is false when pdf is not laid out as fpdf writes it.
func layoutOf(pdf []byte) (l pdfLayout, ok bool) {
	const startxref = "startxref\n"
	at := bytes.LastIndex(pdf, []byte(startxref))
	if at < 0 {
		return l, false
	}
	xref, n := leadingInt(pdf[at+len(startxref):])
	if n == 0 || xref >= at {
		return l, false
	}
	l.xref, l.tail = xref, pdf[at+len(startxref)+n:]
	if !bytes.HasPrefix(l.tail, []byte("\n%%EOF")) {
		return l, false
	}
	rest, found := bytes.CutPrefix(pdf[xref:at], []byte("xref\n0 "))
	if !found {
		return l, false
	}
	l.size, n = leadingInt(rest)
	if n == 0 || l.size < 1 || n >= len(rest) || rest[n] != '\n' {
		return l, false
	}
	entries := rest[n+1:]
	const entry = 20 // "nnnnnnnnnn ggggg n \n"
	if len(entries) < l.size*entry || !bytes.Equal(entries[:entry], []byte("0000000000 65535 f \n")) {
		return l, false
	}
	l.trailer = entries[l.size*entry:]
	if !bytes.HasPrefix(l.trailer, []byte("trailer\n")) {
		return l, false
	}
	l.objects = make([]pdfObject, 0, l.size-1)
	for num := 1; num < l.size; num++ {
		e := entries[num*entry : (num+1)*entry]
		off, n := leadingInt(e)
		if n != 10 || !bytes.Equal(e[10:], []byte(" 00000 n \n")) {
			return l, false
		}
		l.objects = append(l.objects, pdfObject{num, off})
	}
	slices.SortFunc(l.objects, func(a, b pdfObject) int { return a.off - b.off })
	prev := 0
	for _, o := range l.objects {
		if o.off <= prev || o.off >= xref {
			return l, false
		}
		prev = o.off
	}
	return l, true
}

// leadingInt parses the decimal digits pdf starts with (at most 12) and says how many there were.
func leadingInt(b []byte) (v, n int) {
	for n < len(b) && n < 12 && '0' <= b[n] && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n
}

// plainStream is the data of obj (the bytes of one object, "N 0 obj" to "endobj") when it is a
// stream fpdf wrote without a filter: a dictionary of its length alone.
func plainStream(obj []byte, num int) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(obj, strconv.AppendInt(nil, int64(num), 10))
	if !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(" 0 obj\n<</Length ")); !ok {
		return nil, false
	}
	length, n := leadingInt(rest)
	if n == 0 {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest[n:], []byte(">>\nstream\n")); !ok || len(rest) < length {
		return nil, false
	}
	if !bytes.Equal(rest[length:], []byte("\nendstream\nendobj\n")) {
		return nil, false
	}
	return rest[:length], true
}

// deflateStreams writes pdf (as fpdf writes it, uncompressed) to w with its unfiltered streams
// deflated and the cross-reference table rewritten to match; every other object is copied as
// it is. A PDF not laid out as fpdf writes it goes to w unchanged (valid, only bigger).
func deflateStreams(w io.Writer, pdf []byte) error {
	l, ok := layoutOf(pdf)
	if !ok {
		_, err := w.Write(pdf)
		return err
	}
	d := deflaters.Get().(*deflater)
	defer deflaters.Put(d)
	cw := countingWriter{w: w}
	cw.write(pdf[:l.objects[0].off]) // the header
	offsets := make([]int, l.size)
	for i, o := range l.objects {
		end := l.xref
		if i+1 < len(l.objects) {
			end = l.objects[i+1].off
		}
		obj := pdf[o.off:end]
		offsets[o.num] = cw.n
		data, plain := plainStream(obj, o.num)
		if !plain {
			cw.write(obj)
			continue
		}
		d.buf.Reset()
		d.zw.Reset(&d.buf)
		_, _ = d.zw.Write(data) // a bytes.Buffer does not fail
		_ = d.zw.Close()
		var head []byte
		head = strconv.AppendInt(head, int64(o.num), 10)
		head = append(head, " 0 obj\n<</Filter /FlateDecode /Length "...)
		head = strconv.AppendInt(head, int64(d.buf.Len()), 10)
		head = append(head, ">>\nstream\n"...)
		cw.write(head)
		cw.write(d.buf.Bytes())
		cw.write([]byte("\nendstream\nendobj\n"))
	}
	xref := cw.n
	table := make([]byte, 0, 32+20*l.size)
	table = append(table, "xref\n0 "...)
	table = strconv.AppendInt(table, int64(l.size), 10)
	table = append(table, "\n0000000000 65535 f \n"...)
	for _, off := range offsets[1:] {
		s := strconv.Itoa(off)
		for range 10 - len(s) {
			table = append(table, '0')
		}
		table = append(table, s...)
		table = append(table, " 00000 n \n"...)
	}
	cw.write(table)
	cw.write(l.trailer)
	cw.write(strconv.AppendInt([]byte("startxref\n"), int64(xref), 10))
	cw.write(l.tail)
	if d.buf.Cap() > 1<<20 { // a very long stream: let its buffer go
		d.buf = bytes.Buffer{}
	}
	return cw.err
}

// countingWriter counts what it writes and keeps the first error (then writes nothing more).
type countingWriter struct {
	w   io.Writer
	n   int
	err error
}

func (c *countingWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = c.w.Write(b)
	c.n += n
}
