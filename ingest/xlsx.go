package ingest

import "io"

// addXLSX reads an Excel workbook's item rows.
func (p *Parser) addXLSX(c *content, info partInfo, body io.Reader) (int64, string) {
	n, _ := io.Copy(io.Discard, body)
	if c.spreadsheet == "" {
		c.spreadsheet = info.filename
	}
	return n, RoleUnreadable
}
