package console

import (
	"html/template"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// wordIn is a console text in a language (i18n holds them: locales/console/*.yaml), English
// when it has none. Status names are the partners' (i18n.StatusName), so staff and partners
// read the same words.
func (c *Console) wordIn(locale, key string) string { return i18n.ConsoleWord(locale, key) }

func (c *Console) word(key string) string { return c.wordIn(c.locale(), key) }

func (c *Console) statusName(locale string, st rma.Status) string {
	return i18n.StatusName(locale, st)
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"t":      c.wordIn,
		"status": c.statusName,
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(c.cfg.Location).Format("2006-01-02 15:04")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format("2006-01-02")
		},
		"rmaLink":  rmaLink,
		"mailKind": mailKind,
	}
}

// mailKinds are the kinds of partner mail rmad keeps for a re-send (the first word of their
// Message-IDs), each named by a console word mail.<kind>.
var mailKinds = []string{"reply", "followup", "status", "estimate", "estanswer", "estlate", "remind", "digest"}

// mailKind names a kept mail's kind; a kind without a word of its own shows as it is.
func mailKind(locale, kind string) string {
	key := "mail." + kind
	if w := i18n.ConsoleWord(locale, key); w != key {
		return w
	}
	return kind
}
