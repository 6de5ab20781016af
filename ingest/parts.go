package ingest

import (
	"mime"
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
	partCSV                  // a CSV attachment (docs/contract.md §1.2)
	partMaybeTable           // a .txt attachment: Excel's "Unicode text" export is a TSV
	partProof                // labelled PDF or image: a proof of purchase if its bytes are one
	partMaybeProof           // application/octet-stream without a telling name: sniff it
	partXLSX                 // an Excel workbook (.xlsx, .xlsm), read like a CSV
	partSpreadsheet          // a workbook we cannot read (.xls, .ods): the partner is told to save it as .xlsx or CSV
	partTNEF                 // Outlook's winmail.dat
	partForwarded            // a forwarded mail (message/rfc822 or an attached .eml)
)

// partInfo is what the headers say about a part.
type partInfo struct {
	kind       partKind
	mediaType  string
	filename   string
	contentID  string
	attachment bool // Content-Disposition: attachment (the sender attached it as a file)
}

var csvMediaTypes = map[string]bool{
	"text/csv": true, "text/comma-separated-values": true, "text/x-csv": true, "application/csv": true,
	"application/x-csv": true, "text/tab-separated-values": true, "text/tsv": true,
}

var proofExts = map[string]bool{
	".pdf": true, ".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".tif": true, ".tiff": true,
	".heic": true, ".heif": true, ".webp": true, ".bmp": true,
}

var xlsxExts = map[string]bool{".xlsx": true, ".xlsm": true}

var oldSpreadsheetExts = map[string]bool{".xls": true, ".ods": true, ".xlsb": true, ".numbers": true}

var xlsxMediaTypes = map[string]bool{
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": true,
	"application/vnd.ms-excel.sheet.macroenabled.12":                    true,
}

// classifyPart reads a part's Content-Type and Content-Disposition (see classifyHeader).
func classifyPart(ph mail.PartHeader) partInfo {
	switch t := ph.(type) {
	case *mail.InlineHeader:
		return classifyHeader(&t.Header)
	case *mail.AttachmentHeader:
		return classifyHeader(&t.Header)
	}
	return partInfo{}
}

// classifyHeader reads a part's Content-Type and Content-Disposition. A CSV may come as
// text/csv, as application/octet-stream or as application/vnd.ms-excel: the file name decides.
func classifyHeader(h *message.Header) partInfo {
	mt, ctParams := lenientParams(h, "Content-Type")
	if mt == "" {
		mt = "text/plain"
	}
	disp, dParams := lenientParams(h, "Content-Disposition")
	info := partInfo{mediaType: mt, filename: dParams["filename"], contentID: strings.Trim(h.Get("Content-Id"), "<> \t"),
		attachment: disp == "attachment"}
	if info.filename == "" {
		info.filename = ctParams["name"]
	}
	info.kind = kindOf(mt, info.filename, disp)
	return info
}

// kindOf decides a part's kind from its media type, file name and disposition.
func kindOf(mt, filename, disp string) partKind {
	ext := strings.ToLower(path.Ext(strings.TrimSpace(filename)))
	switch {
	case mt == "message/rfc822" || mt == "message/global" || ext == ".eml":
		return partForwarded
	case IsTNEF(mt, filename):
		return partTNEF
	case csvMediaTypes[mt] || ext == ".csv" || ext == ".tsv":
		return partCSV
	case xlsxExts[ext] || (ext == "" && xlsxMediaTypes[mt]):
		return partXLSX
	case oldSpreadsheetExts[ext] || (ext == "" && (mt == "application/vnd.ms-excel" || mt == "application/vnd.oasis.opendocument.spreadsheet")):
		return partSpreadsheet
	case mt == "application/pdf" || mt == "application/x-pdf" || strings.HasPrefix(mt, "image/") || proofExts[ext]:
		return partProof
	case ext == ".txt" && disp == "attachment":
		return partMaybeTable
	case filename != "" || disp == "attachment":
		if mt == "application/octet-stream" || mt == "application/binary" || mt == "application/download" {
			return partMaybeProof
		}
		return partOther
	case mt == "text/plain":
		return partPlain
	case mt == "text/html":
		return partHTML
	case mt == "application/octet-stream":
		return partMaybeProof
	}
	return partOther
}

// lenientParams parses a header with parameters (RFC 2045/2231, encoded words decoded by
// go-message). A header broken beyond mime.ParseMediaType (an unquoted "name=a b.csv", an
// unquoted boundary holding "=") still gives its value and its parameters, because partners'
// file names and the parts of their mail must be found.
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

// IsTNEF reports whether a part is an Outlook winmail.dat, by its media type or its name.
func IsTNEF(mediaType, filename string) bool {
	return mediaType == "application/ms-tnef" || mediaType == "application/vnd.ms-tnef" || strings.EqualFold(strings.TrimSpace(filename), "winmail.dat")
}
