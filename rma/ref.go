package rma

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
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
