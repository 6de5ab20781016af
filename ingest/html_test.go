package ingest

import (
	"strings"
	"testing"
)

func TestHTMLToText(t *testing.T) {
	cases := []struct {
		name, html, want string
	}{
		{"paragraphs and br", "<p>Hello,</p><p>EAN: 1<br>Serial:  S</p>", "Hello,\nEAN: 1\nSerial: S\n"},
		{"white space collapses", "<div>EAN:\n   1\t2</div>", "EAN: 1 2\n"},
		{"entities and nbsp", "<p>Num&eacute;ro&nbsp;: 7&lt;8 &amp; co</p>", "Numéro\u00a0: 7<8 & co\n"},
		{"gmail blank line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb\n"},
		{"hr is a separator", "<p>EAN: 1</p><hr><p>EAN: 2</p>", "EAN: 1\n---\nEAN: 2\n"},
		{"script and style dropped", "<head><title>T</title><style>p{x:y}</style></head><body><script>var a=1</script><p>ok</p></body>", "ok\n"},
		{"label cell with colon", "<table><tr><td>EAN:</td><td>5204001000013</td></tr></table>", "EAN: 5204001000013\n"},
		{"label cell without colon", "<table><tr><th>Serial</th><td> RT-1 </td></tr></table>", "Serial: RT-1\n"},
		{"pairs in one row", "<table><tr><td>EAN:</td><td>1</td><td>Serial:</td><td>S</td></tr></table>", "EAN: 1\nSerial: S\n"},
		{"item table", "<table><tr><th>EAN</th><th>Serial</th><th>Notes</th></tr><tr><td>1</td><td>A</td><td>x</td></tr><tr><td>2</td><td></td><td>y</td></tr></table>",
			"---\nean: 1\nserial: A\n---\nean: 2\n---\n"},
		{"layout table with nested table", "<table><tr><td><img src=logo></td><td><table><tr><td>EAN:</td><td>1</td></tr><tr><td>Serial:</td><td>S</td></tr></table></td></tr></table>",
			"EAN: 1\nSerial: S\n"},
		{"cite blockquote is quoted", "<p>EAN: 1</p><blockquote type=\"cite\"><p>EAN: 2</p><p>old</p></blockquote><p>bye</p>", "EAN: 1\n> EAN: 2\n> old\nbye\n"},
		{"indent blockquote is not a quote", "<blockquote style=\"margin:0 0 0 40px\">EAN: 1</blockquote>", "EAN: 1\n"},
		{"signature block", "<div>EAN: 1</div><div class=\"gmail_signature\">Serial: mine</div>", "EAN: 1\n-- \nSerial: mine\n"},
		{"pre keeps lines", "<pre>EAN: 1\nSerial:   S</pre>", "EAN: 1\nSerial:   S\n"},
		{"unclosed tags", "<div><p>EAN: 1<td>x<tr>y", "EAN: 1 x\ny\n"},
		{"empty", "", "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := HTMLToText(c.html); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestHTMLForms reads forms out of HTML the way mail clients write it.
func TestHTMLForms(t *testing.T) {
	cases := []struct {
		name, html, want string
	}{
		{"fixture 11", `<html><body><p>Bonjour,</p><p><b>Code EAN</b> : 6940735000095<br><b>Num&eacute;ro de s&eacute;rie</b> : HK-7781-A<br><b>Date d'achat</b> : 2026-09-30<br><b>Description du problème</b> : image noire, vision nocturne HS.</p></body></html>`,
			"ean=6940735000095; serial=HK-7781-A; purchase_date=2026-09-30; description=image noire, vision nocturne HS."},
		{"outlook paragraphs", `<div class=WordSection1><p class=MsoNormal>EAN: 5204001000013<o:p></o:p></p><p class=MsoNormal>Serial: RT-1<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Thanks<o:p></o:p></p></div>`,
			"ean=5204001000013; serial=RT-1"},
		{"table form in greek", `<table border=1><tr><td><b>Κωδικός EAN:</b></td><td>5204001000013</td></tr><tr><td>Σειριακός αριθμός:</td><td>RT-88812</td></tr><tr><td>Περιγραφή</td><td>Δεν ανάβει καθόλου</td></tr></table>`,
			"ean=5204001000013; serial=RT-88812; description=Δεν ανάβει καθόλου"},
		{"table of items", `<p>Hello</p><table><tr><th>Cod EAN</th><th>Număr de serie</th><th>Descriere</th></tr><tr><td>1</td><td>A</td><td>nu merge</td></tr><tr><td>2</td><td>B</td><td>ecran spart</td></tr></table><p>Mulțumim</p>`,
			"ean=1; serial=A; description=nu merge | ean=2; serial=B; description=ecran spart"},
		{"gmail reply with quote", `<div dir="ltr">EAN: 1<br>Serial: S</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Nov 2, 2026 at 9:01 AM RMA &lt;r@d.example&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204)">EAN: 2<br>Serial: OLD</blockquote></div>`,
			"ean=1; serial=S"},
		{"outlook reply header", `<div><p>EAN: 1</p></div><hr tabindex="-1"><div id="divRplyFwdMsg"><b>From:</b> RMA &lt;r@d.example&gt;<br><b>Sent:</b> Monday<br><b>To:</b> x<br><b>Subject:</b> RMA</div><div>EAN: 2</div>`,
			"ean=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := HTMLToText(c.html)
			if got := itemsString(ParseBodyForm(text)); got != c.want {
				t.Errorf("got  %s\nwant %s\ntext:\n%s", got, c.want, text)
			}
		})
	}
}

func TestHTMLToTextDeepNesting(t *testing.T) {
	html := strings.Repeat("<table><tr><td><blockquote type=cite>", 5000) + "EAN: 1" + strings.Repeat("</blockquote></td></tr></table>", 5000)
	if got := HTMLToText(html); !strings.Contains(got, "EAN: 1") {
		t.Errorf("deeply nested text lost: %.200q", got)
	}
}
