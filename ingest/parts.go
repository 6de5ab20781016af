package ingest

import (
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
)

// partKind says what a MIME part is to us.
type partKind int

const (
	partOther       partKind = iota
	partPlain                // text/plain body
	partHTML                 // text/html body
	partCSV                  // a CSV attachment (SPEC §1.2)
	partMaybeTable           // a .txt attachment: Excel's "Unicode text" export is a TSV
	partProof                // PDF or image: proof of purchase
	partMaybeProof           // application/octet-stream without a telling name: sniff it
	partSpreadsheet          // an Excel/ODS workbook we cannot read
)

// partInfo is what the headers say about a part.
type partInfo struct {
	kind      partKind
	mediaType string
	filename  string
	contentID string
}

var csvMediaTypes = map[string]bool{
	"text/csv": true, "text/comma-separated-values": true, "text/x-csv": true, "application/csv": true,
	"application/x-csv": true, "text/tab-separated-values": true, "text/tsv": true,
}

var proofExts = map[string]bool{
	".pdf": true, ".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".tif": true, ".tiff": true,
	".heic": true, ".heif": true, ".webp": true, ".bmp": true,
}

var spreadsheetExts = map[string]bool{".xls": true, ".xlsx": true, ".xlsm": true, ".ods": true}

// classifyPart reads a part's Content-Type and Content-Disposition. A CSV may come as text/csv
// (go-message then calls it inline when it has no Content-Disposition), as
// application/octet-stream or as application/vnd.ms-excel: the file name decides.
func classifyPart(ph mail.PartHeader) partInfo {
	var h *message.Header
	switch t := ph.(type) {
	case *mail.InlineHeader:
		h = &t.Header
	case *mail.AttachmentHeader:
		h = &t.Header
	default:
		return partInfo{}
	}
	mt, ctParams := lenientParams(h, "Content-Type")
	if mt == "" {
		mt = "text/plain"
	}
	disp, dParams := lenientParams(h, "Content-Disposition")
	info := partInfo{mediaType: mt, filename: dParams["filename"], contentID: strings.Trim(h.Get("Content-Id"), "<> \t")}
	if info.filename == "" {
		info.filename = ctParams["name"]
	}
	ext := strings.ToLower(path.Ext(strings.TrimSpace(info.filename)))
	switch {
	case csvMediaTypes[mt] || ext == ".csv" || ext == ".tsv":
		info.kind = partCSV
	case mt == "application/pdf" || mt == "application/x-pdf" || strings.HasPrefix(mt, "image/") || proofExts[ext]:
		info.kind = partProof
	case spreadsheetExts[ext]:
		info.kind = partSpreadsheet
	case ext == ".txt" && disp == "attachment":
		info.kind = partMaybeTable
	case info.filename != "" || disp == "attachment":
		if mt == "application/octet-stream" {
			info.kind = partMaybeProof
		}
	case mt == "text/plain":
		info.kind = partPlain
	case mt == "text/html":
		info.kind = partHTML
	case mt == "application/octet-stream":
		info.kind = partMaybeProof
	}
	return info
}

// lenientParams parses a header with parameters (RFC 2045/2231, encoded words decoded by
// go-message). A header broken beyond mime.ParseMediaType (an unquoted "name=a b.csv") still
// gives its value and its name/filename parameter, because partners' file names must be found.
func lenientParams(h *message.Header, key string) (string, map[string]string) {
	var (
		v      string
		params map[string]string
		err    error
	)
	if key == "Content-Type" {
		v, params, err = h.ContentType()
	} else {
		v, params, err = h.ContentDisposition()
	}
	if err == nil {
		return strings.ToLower(v), params
	}
	raw := h.Get(key)
	v, rest, _ := strings.Cut(raw, ";")
	params = map[string]string{}
	for _, kv := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(k), "*")))
		if k != "name" && k != "filename" {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if dec, err := wordDecoder.DecodeHeader(val); err == nil {
			val = dec
		}
		params[k] = val
	}
	return strings.ToLower(strings.TrimSpace(v)), params
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message's charset package knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// sniffProof recognises a PDF or an image from its first bytes.
func sniffProof(head []byte) bool {
	ct := http.DetectContentType(head)
	return ct == "application/pdf" || strings.HasPrefix(ct, "image/")
}
