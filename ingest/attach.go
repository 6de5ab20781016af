package ingest

import (
	"bytes"
	"image"
	_ "image/gif" // DecodeConfig of attached images: their size in pixels tells an icon from a scan
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"strings"

	"github.com/rmad/rmad/rma"
)

// Attachment is one file rmad found in a mail and what it took it for.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Role        string `json:"role"`             // one of the Role constants
	Inside      string `json:"inside,omitempty"` // where it was found: "winmail.dat", "forwarded message", ...
	Note        string `json:"note,omitempty"`   // why it is unreadable or decorative, for people
}

// Attachment roles.
const (
	RoleProof      = "proof"      // a PDF or an image that is a proof of purchase
	RoleItems      = "items"      // a CSV or XLSX file of items
	RoleDecorative = "decorative" // an image shown by the HTML body, an icon or emoji
	RoleUnreadable = "unreadable" // a file rmad should read and cannot (broken, encrypted, old format, not what it says)
	RoleOther      = "other"      // anything else (and containers such as winmail.dat)
	rolePending    = "pending"    // an image whose role finish decides (never left in a result)
)

// sniffHeadBytes is how much of a file is read to tell what it is (an image's dimensions sit in
// its first bytes; a JPEG's after its EXIF block, which is rarely larger).
const sniffHeadBytes = 64 << 10

// Image decoration: an image the HTML body shows by cid: is a logo whatever its size; an image
// no more than iconMaxPixels wide and high is an icon or emoji wherever it is; an inline image
// (not attached as a file) up to inlineSmallPixels, or smaller than inlineSmallBytes when its
// size in pixels cannot be read, is a signature graphic too.
const (
	iconMaxPixels     = 64
	inlineSmallPixels = 200
	inlineSmallBytes  = 16 << 10
)

// pendingImage is an image whose role depends on the rest of the mail.
type pendingImage struct {
	att  int // index in content.atts
	info partInfo
	head []byte
	size int64
}

// sniffFile tells what a file's first bytes are: "application/pdf", "image/..." or "".
func sniffFile(head []byte) string {
	if i := bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-")); i >= 0 {
		return "application/pdf"
	}
	switch {
	case len(head) >= 4 && (bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*"))):
		return "image/tiff"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1", "avif":
			return "image/heic"
		}
	}
	ct := http.DetectContentType(head)
	if strings.HasPrefix(ct, "image/") && ct != "image/x-icon" {
		return ct
	}
	return ""
}

// finish decides the role of every image, reads the body form, and folds in what forwarded
// mail holds when this mail has none of its own: its items (body form, CSV, XLSX) when this one
// has none, its proof when this one has none.
func (c *content) finish(maxItems int) {
	for _, img := range c.images {
		role, note := c.imageRole(img)
		c.atts[img.att].Role, c.atts[img.att].Note = role, note
		if role == RoleProof {
			c.hasProof = true
		}
	}
	c.images = nil
	c.body = c.bodyItems(maxItems + 1)
	for _, f := range c.forwarded {
		if !c.hasItemSource() {
			c.body, c.csv, c.csvDelim, c.csvProblems = f.body, f.csv, f.csvDelim, f.csvProblems
			c.tooManyItems, c.spreadsheet, c.rowLimitFile = f.tooManyItems, f.spreadsheet, f.rowLimitFile
		}
		if !c.hasProof && f.hasProof {
			c.hasProof = true
		}
		c.atts = append(c.atts, f.atts...)
	}
	c.forwarded = nil
}

func (c *content) hasItemSource() bool {
	return len(c.body) > 0 || len(c.csv) > 0 || len(c.csvProblems) > 0 || c.spreadsheet != "" || c.tooManyItems || c.rowLimitFile != ""
}

// imageRole decides between proof and decoration by how the image is used and what it is.
func (c *content) imageRole(img pendingImage) (string, string) {
	if img.info.contentID != "" && c.referencedFromHTML(img.info.contentID) {
		return RoleDecorative, "shown in the HTML body (cid:)"
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(img.head))
	known := err == nil
	if known && cfg.Width <= iconMaxPixels && cfg.Height <= iconMaxPixels {
		return RoleDecorative, "an icon-sized image"
	}
	if !img.info.attachment {
		if known && cfg.Width <= inlineSmallPixels && cfg.Height <= inlineSmallPixels {
			return RoleDecorative, "a small inline image"
		}
		if !known && img.size < inlineSmallBytes {
			return RoleDecorative, "a small inline image"
		}
	}
	return RoleProof, ""
}

func (c *content) referencedFromHTML(cid string) bool {
	for _, h := range c.html {
		if strings.Contains(h, "cid:"+cid) {
			return true
		}
	}
	return false
}

// bodyItems reads the body form: the plain text parts, or the HTML ones when there is no plain
// text or it holds no form (a stub like "view this mail in HTML"), or a winmail.dat's body.
func (c *content) bodyItems(limit int) []rma.Item {
	var items []rma.Item
	if len(c.plain) > 0 {
		items = parseBodyForm(strings.Join(c.plain, "\n\n"), limit)
	}
	if len(items) == 0 && len(c.html) > 0 {
		var b strings.Builder
		for _, h := range c.html {
			b.WriteString(HTMLToText(h))
			b.WriteString("\n\n")
		}
		items = parseBodyForm(b.String(), limit)
	}
	if len(items) == 0 && len(c.altPlain) > 0 {
		items = parseBodyForm(strings.Join(c.altPlain, "\n\n"), limit)
	}
	return items
}
