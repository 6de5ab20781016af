package rma

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
)

// RefPrefix starts the reference line rmad writes at the end of its own mails ("Ref: R-…"),
// for mail clients and gateways that drop or rewrite References when the partner answers.
const RefPrefix = "Ref: "

// RefTokenRe finds reference tokens in text; tokens are lower-case hex, matched in any case.
var RefTokenRe = regexp.MustCompile(`(?i)\bR-[0-9a-f]{10}\b`)

// RefToken is the short reference of the mail with Message-ID id: "R-" and ten hex digits of its
// digest. It stands for the Message-ID in the thread index, so it reveals nothing about it.
func RefToken(id string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.Trim(strings.TrimSpace(id), "<>"))))
	return "R-" + hex.EncodeToString(sum[:5])
}

// FindRefTokens returns the reference tokens in text, lower-cased, each once, at most n: what
// RefTokenRe.FindAllString finds, without running a regular expression over the whole of a long
// quoted thread (the backtracker made that most of the cost of reading a follow-up).
func FindRefTokens(text string, n int) []string {
	var out []string
	for i := 0; i < len(text) && len(out) < n; {
		j := strings.IndexByte(text[i:], '-')
		if j < 0 {
			break
		}
		j += i
		i = j + 1
		end := j + 1 + refHexLen
		if j == 0 || text[j-1]|0x20 != 'r' || j >= 2 && isWordByte(text[j-2]) ||
			end > len(text) || end < len(text) && isWordByte(text[end]) {
			continue
		}
		tok := "R-" + strings.ToLower(text[j+1:end])
		if !isHex(tok[2:]) {
			continue
		}
		i = end
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out
}

// refHexLen is the number of hex digits of a reference token.
const refHexLen = 10

// isWordByte is regexp's \b word character: ASCII letters, digits and underscore.
func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
