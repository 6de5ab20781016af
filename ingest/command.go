package ingest

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rmad/rmad/rma"
)

// commandWords maps the folded first word of a subject to its command (docs/contract.md §1.3).
var commandWords = map[string]string{
	"status": rma.CommandStatus, "κατασταση": rma.CommandStatus, "stare": rma.CommandStatus, "statut": rma.CommandStatus,
	"warranty": rma.CommandWarranty, "εγγυηση": rma.CommandWarranty, "garantie": rma.CommandWarranty,
}

// replyPrefixes are the folded subject prefixes mail clients add when replying or forwarding,
// in the four languages (Outlook's Greek ΑΠ/ΠΡΘ, French TR, German AW/WG).
var replyPrefixes = map[string]bool{
	"re": true, "fw": true, "fwd": true, "tr": true, "aw": true, "wg": true, "ref": true,
	"απ": true, "πρθ": true, "σχετ": true, "προωθ": true, "rasp": true, "redirectionat": true,
}

// maxSubjectPrefixes bounds prefix stripping ("Re: Re: Re: ...").
const maxSubjectPrefixes = 20

// ParseCommand reads a command subject: "STATUS <query>" (also ΚΑΤΑΣΤΑΣΗ, STARE, STATUT) or
// "WARRANTY <ean> [serial]" (also ΕΓΓΥΗΣΗ, GARANTIE, GARANȚIE), in any case and with or
// without accents, after reply and forward prefixes (Re:, RE:, Fwd:, ΑΠ:, ΠΡΘ:, TR: ...) and
// bracketed tags ("[EXTERNAL]"). The query may be empty: the answer then says how to ask.
func ParseCommand(subject string) (*rma.Command, bool) {
	s := StripSubjectPrefixes(cleanValue(subject))
	word, rest := firstWord(s)
	name, ok := commandWords[fold(word)]
	if !ok {
		return nil, false
	}
	rest = strings.TrimLeft(rest, " \t:：-")
	cmd := &rma.Command{Name: name}
	switch name {
	case rma.CommandStatus:
		cmd.Query = strings.Join(strings.Fields(rest), " ")
	case rma.CommandWarranty:
		f := strings.Fields(rest)
		if len(f) > 0 {
			cmd.EAN = f[0]
		}
		if len(f) > 1 {
			cmd.Serial = f[1]
		}
		cmd.Query = strings.Join(f, " ")
	}
	return cmd, true
}

// StripSubjectPrefixes removes leading reply/forward prefixes ("Re:", "RE[2]:", "Fwd:", "ΑΠ:",
// "ΠΡΘ:", "TR:") and bracketed tags from a subject.
func StripSubjectPrefixes(s string) string {
	for range maxSubjectPrefixes {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			if end := strings.IndexByte(s, ']'); end > 0 {
				s = s[end+1:]
				continue
			}
		}
		colon := strings.IndexAny(s, ":：")
		if colon <= 0 || colon > 16 {
			return s
		}
		p := s[:colon]
		if i := strings.IndexByte(p, '['); i > 0 { // "Re[2]"
			p = p[:i]
		}
		if !replyPrefixes[fold(p)] {
			return s
		}
		_, w := utf8.DecodeRuneInString(s[colon:])
		s = s[colon+w:]
	}
	return strings.TrimSpace(s)
}

// firstWord splits off the first word: letters only, so "STATUS:" and "STATUS-" end it.
func firstWord(s string) (word, rest string) {
	for i, r := range s {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) {
			return s[:i], s[i:]
		}
	}
	return s, ""
}
