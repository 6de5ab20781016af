package label

// TEMPORARY until i18n lands: the label phrases of the locale catalogs.
type tmpWords string

func wordsFor(locale string) tmpWords { return tmpWords(locale) }

var tmp = map[string]map[string]string{
	"en": {"label.partner": "Partner", "label.own_number": "Your reference", "label.item": "Item", "label.serial": "Serial number",
		"label.ship_to": "Ship to", "label.return_to": "Return address", "label.receiver_pays": "Receiver pays: approved",
		"label.stick": "Stick this label on the outside of the parcel, where it can be seen."},
	"el": {"label.partner": "Συνεργάτης", "label.own_number": "Δικός σας αριθμός", "label.item": "Προϊόν", "label.serial": "Σειριακός αριθμός",
		"label.ship_to": "Αποστολή προς", "label.return_to": "Διεύθυνση επιστροφής", "label.receiver_pays": "Χρέωση παραλήπτη: εγκρίθηκε",
		"label.stick": "Κολλήστε την ετικέτα στο εξωτερικό του δέματος, σε εμφανές σημείο."},
	"ro": {"label.partner": "Partener", "label.own_number": "Numărul dumneavoastră", "label.item": "Produs", "label.serial": "Număr de serie",
		"label.ship_to": "Expediați la", "label.return_to": "Adresa de retur", "label.receiver_pays": "Plata la destinatar: aprobată",
		"label.stick": "Lipiți această etichetă pe exteriorul coletului, la vedere."},
	"fr": {"label.partner": "Partenaire", "label.own_number": "Votre référence", "label.item": "Produit", "label.serial": "Numéro de série",
		"label.ship_to": "Expédier à", "label.return_to": "Adresse de retour", "label.receiver_pays": "Port payé par le destinataire : accordé",
		"label.stick": "Collez cette étiquette à l'extérieur du colis, bien en vue."},
}

func (w tmpWords) T(key string) string {
	if m, ok := tmp[string(w)]; ok {
		return m[key]
	}
	return tmp["en"][key]
}
