package ingest

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/japanese"
)

// maxWordsText bounds the header text decodeWords looks at (a subject is short).
const maxWordsText = 16 << 10

// decodeWords decodes a header value as the mail clients partners use really write it, where
// mime.WordDecoder gives up and leaves the raw text: RFC 2047 encoded words whose charset is
// unknown or "NONE" (the bytes are guessed like a text attachment's), UTF-7, base64 with too
// much or too little padding, raw 8-bit bytes inside or between encoded words; and raw
// ISO-2022-JP (its escape sequences) outside any encoded word. Whitespace between two encoded
// words is dropped (RFC 2047 §6.2).
func decodeWords(raw string) string {
	if len(raw) > maxWordsText {
		raw = raw[:maxWordsText]
	}
	var out strings.Builder
	rest := raw
	lastWasWord := false
	for rest != "" {
		i := strings.Index(rest, "=?")
		if i < 0 {
			out.WriteString(decodeRaw(rest))
			break
		}
		text, word, after, ok := nextWord(rest, i)
		if !ok {
			out.WriteString(decodeRaw(rest[:i+2]))
			rest = rest[i+2:]
			lastWasWord = false
			continue
		}
		if !(lastWasWord && strings.TrimSpace(text) == "") {
			out.WriteString(decodeRaw(text))
		}
		out.WriteString(word)
		rest, lastWasWord = after, true
	}
	return out.String()
}

// nextWord decodes the encoded word "=?charset?enc?text?=" at rest[i:]: the text before it,
// the word decoded, and what follows.
func nextWord(rest string, i int) (before, word, after string, ok bool) {
	body := rest[i+2:]
	q1 := strings.IndexByte(body, '?')
	if q1 <= 0 || q1+2 >= len(body) || body[q1+2] != '?' {
		return "", "", "", false
	}
	cs, enc := body[:q1], body[q1+1]
	end := strings.Index(body[q1+3:], "?=")
	if end < 0 {
		return "", "", "", false
	}
	payload := body[q1+3 : q1+3+end]
	if strings.ContainsAny(payload, " \t\r\n") && enc != 'b' && enc != 'B' {
		return "", "", "", false
	}
	var data []byte
	switch enc {
	case 'b', 'B':
		data = lenientBase64(payload)
	case 'q', 'Q':
		data = decodeQ(payload)
	default:
		return "", "", "", false
	}
	if k := strings.IndexByte(cs, '*'); k >= 0 {
		cs = cs[:k] // RFC 2231 language suffix
	}
	return rest[:i], decodeCharset(cs, data, payload), body[q1+3+end+2:], true
}

// lenientBase64 decodes base64 whatever its padding, skipping characters that are not base64.
func lenientBase64(s string) []byte {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // a lone sixth of a byte
	}
	out, _ := base64.RawStdEncoding.DecodeString(string(clean))
	return out
}

// decodeQ decodes RFC 2047 "Q" text; bad escapes and raw 8-bit bytes are kept as they are.
func decodeQ(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// decodeCharset turns an encoded word's bytes into UTF-8. Raw 8-bit text that is valid UTF-8
// wins over a declared single-byte charset (the client pasted UTF-8 into the word).
func decodeCharset(cs string, data []byte, payload string) string {
	name := strings.ToLower(strings.TrimSpace(cs))
	switch {
	case name == "utf-7" || name == "unicode-1-1-utf-7" || name == "x-utf-7":
		return decodeUTF7(data)
	case name == "utf-8" || name == "utf8" || name == "us-ascii" || name == "ascii":
		return toUTF8(string(data))
	case hasRaw8bit(payload) && utf8.Valid(data):
		return string(data)
	}
	if r, err := charset.Reader(cs, bytes.NewReader(data)); err == nil {
		if out, err := io.ReadAll(io.LimitReader(r, 4*maxWordsText)); err == nil && utf8.Valid(out) {
			return string(out)
		}
	}
	t, _ := decodeText(data) // "NONE", "unknown-8bit", a name nobody knows: guess
	return t
}

func hasRaw8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// decodeRaw decodes header text outside encoded words: ISO-2022-JP by its escapes, UTF-7 by
// its "+...-" shifts when the text is nothing else, raw 8-bit by guessing.
func decodeRaw(s string) string {
	if strings.Contains(s, "\x1b$B") || strings.Contains(s, "\x1b$@") || strings.Contains(s, "\x1b(J") {
		if out, err := japanese.ISO2022JP.NewDecoder().String(s); err == nil {
			return out
		}
	}
	return toUTF8(s)
}

// decodeUTF7 decodes RFC 2152 UTF-7: "+" starts modified base64 of UTF-16BE up to "-" or any
// character outside base64; "+-" is a plus sign.
func decodeUTF7(data []byte) string {
	var out strings.Builder
	for i := 0; i < len(data); {
		c := data[i]
		if c != '+' {
			out.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(data) && isBase64Char(data[j]) {
			j++
		}
		if j == i+1 {
			out.WriteByte('+')
			if j < len(data) && data[j] == '-' {
				j++
			}
			i = j
			continue
		}
		b := lenientBase64(string(data[i+1 : j]))
		units := make([]uint16, 0, len(b)/2)
		for k := 0; k+1 < len(b); k += 2 {
			units = append(units, uint16(b[k])<<8|uint16(b[k+1]))
		}
		out.WriteString(string(utf16.Decode(units)))
		if j < len(data) && data[j] == '-' {
			j++
		}
		i = j
	}
	return toUTF8(out.String())
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}
