package smtpclient

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
	"testing"
)

// dotStuffed is data written with w in pieces of at most chunk bytes, then closed.
func dotStuffed(t testing.TB, data []byte, chunk int, ours bool) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 16)
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	if ours {
		w = &dotWriter{w: bw}
	} else {
		w = textproto.NewWriter(bw).DotWriter()
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if m, err := w.Write(data[:n]); err != nil || m != n {
			t.Fatalf("write %d bytes: %d, %v", n, m, err)
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

var dotCases = []string{
	"", ".", "\r", "\n", "\r\n", ".\r\n", "..\r\n.", "a\r\n.b\r\n", "a\nb\n.c", "a\r\r\nb",
	"\r.\r\n.", "line\r\n.\r\n", "no end", strings.Repeat("x", 100) + "\r\n." + strings.Repeat("y", 70) + "\n\n.\r",
	"Subject: x\r\n\r\n.hidden\r\n..two\r\nend\r\n",
}

// The data goes out exactly as net/textproto's DotWriter sends it, however it is cut into
// writes.
func TestDotWriterAsTextproto(t *testing.T) {
	for _, c := range dotCases {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			want := dotStuffed(t, []byte(c), chunk, false)
			if got := dotStuffed(t, []byte(c), chunk, true); !bytes.Equal(got, want) {
				t.Errorf("%q in writes of %d: %q, textproto %q", c, chunk, got, want)
			}
		}
	}
}

func FuzzDotWriter(f *testing.F) {
	for _, c := range dotCases {
		f.Add([]byte(c), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		n := int(chunk%64) + 1
		if got, want := dotStuffed(t, data, n, true), dotStuffed(t, data, n, false); !bytes.Equal(got, want) {
			t.Errorf("%q in writes of %d: %q, textproto %q", data, n, got, want)
		}
	})
}

func BenchmarkDotWriter(b *testing.B) {
	data := bytes.Repeat([]byte(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 2)+"\r\n"), 300)
	for _, ours := range []bool{false, true} {
		name := "textproto"
		if ours {
			name = "ours"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var w interface {
					Write([]byte) (int, error)
					Close() error
				}
				bw := bufio.NewWriterSize(discard{}, 4096)
				if ours {
					w = &dotWriter{w: bw}
				} else {
					w = textproto.NewWriter(bw).DotWriter()
				}
				_, _ = w.Write(data)
				_ = w.Close()
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
