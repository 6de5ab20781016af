package ingest

// fieldLabels are the words partners use for each item field (docs/contract.md §1.1), in English, Greek,
// Romanian and French, plus the field names themselves (docs/contract.md §1) (CSV headers like "own_number").
// Matching folds case, accents, tonos, cedilla/comma-below and punctuation (see fold), so
// each spelling is listed once.
var fieldLabels = map[string][]string{
	"ean": {
		"EAN", "GTIN", "EAN code", "EAN-13", "EAN13", "GTIN-13", "Barcode", "Bar code", "Product EAN",
		"Κωδικός EAN", "Κωδ. EAN", "EAN προϊόντος", "Barcode προϊόντος", "Γραμμωτός κώδικας",
		"Cod EAN", "Cod de bare", "EAN produs",
		"Code EAN", "Code-barres", "Code barre", "Code GTIN",
	},
	"serial": {
		"Serial", "Serial number", "Serial no", "Serial nr", "Serial #", "S/N", "SN", "Serial no.",
		"Σειριακός αριθμός", "Σειριακός", "Σειριακός αρ.", "Αρ. σειράς", "Αριθμός σειράς",
		"Număr de serie", "Numar serie", "Nr. serie", "Serie", "Seria", "Serie produs", "Nr. de serie",
		"Numéro de série", "N° de série", "No de série", "Numéro série", "N° série",
	},
	"purchase_date": {
		"Purchase date", "Date of purchase", "Invoice date", "Date purchased", "Bought on", "Date", "Sale date",
		"Ημερομηνία αγοράς", "Ημ/νία αγοράς", "Ημερ. αγοράς", "Ημερομηνία τιμολογίου", "Ημερομηνία",
		"Ημερομηνία πώλησης",
		"Data achiziției", "Data achiziție", "Data cumpărării", "Data facturii", "Data documentului",
		"Data", "Data vânzării",
		"Date d'achat", "Date de facture", "Date de la facture", "Date d'acquisition", "Date de vente",
	},
	"description": {
		"Description", "Problem", "Problem description", "Fault", "Fault description", "Issue",
		"Issue description", "Defect", "Defect description", "Symptom", "Symptoms", "Complaint",
		"Περιγραφή", "Περιγραφή προβλήματος", "Περιγραφή βλάβης", "Πρόβλημα", "Βλάβη", "Σύμπτωμα",
		"Descriere", "Descriere problemă", "Descrierea problemei", "Descrierea defectului",
		"Descriere defect", "Problemă", "Defect constatat", "Simptom",
		"Description du problème", "Description de la panne", "Description du défaut", "Panne",
		"Problème", "Défaut", "Symptôme",
	},
	"own_number": {
		"Own number", "Your reference", "Our reference", "Reference", "Ref", "Your ref", "Our ref",
		"Claim number", "Claim no", "Internal number", "Request number", "RMA request number", "Case reference",
		"Αριθμός αίτησης", "Αρ. αίτησης", "Αριθμός αναφοράς", "Κωδικός αίτησης", "Αριθμός δελτίου",
		"Number propriu", "Număr propriu", "Numărul de reclamație propriu", "Număr reclamație",
		"Nr. reclamație", "Nr. cerere", "Număr cerere", "Referință", "Referința noastră",
		"Votre référence", "Notre référence", "Référence", "Réf", "N° de dossier", "Numéro de dossier",
		"Numéro de réclamation",
	},
	"expectation": {
		"Expectation", "Request", "Expected", "Expected solution", "Desired resolution", "Resolution",
		"Requested action", "Remedy",
		"Προσδοκία", "Αίτημα", "Ζητούμενο", "Επιθυμητή λύση",
		"Așteptări", "Așteptare", "Solicitare", "Rezolvare dorită", "Soluție dorită",
		"Attente", "Demande", "Solution souhaitée", "Résolution souhaitée",
	},
	"claim_type": {
		"Claim type", "Type", "Claim", "Return type", "Request type", "RMA type",
		"Τύπος", "Τύπος αίτησης", "Τύπος επιστροφής", "Είδος αίτησης",
		"Tip", "Tip cerere", "Tip reclamație", "Tip retur", "Tipul cererii",
		"Type de demande", "Type de retour", "Type de réclamation",
	},
	"fault_type": {
		"Fault type", "Failure type", "Defect type", "Fault category", "Type of fault",
		"Τύπος βλάβης", "Κατηγορία βλάβης", "Είδος βλάβης",
		"Tip defect", "Tipul defectului", "Categorie defect",
		"Type de panne", "Type de défaut", "Catégorie de panne",
	},
	"quantity": {
		"Quantity", "Qty", "Pcs", "Pieces", "Units",
		"Ποσότητα", "Τεμάχια", "Τεμ.",
		"Cantitate", "Buc.", "Bucăți",
		"Quantité", "Qté", "Nombre de pièces",
	},
	"tracking": {
		"Tracking", "Tracking number", "Tracking no", "AWB", "AWB number", "Waybill", "Consignment number",
		"Αριθμός αποστολής", "Αρ. αποστολής", "Voucher", "Αριθμός voucher", "Αριθμός παρακολούθησης",
		"Număr AWB", "Nr. AWB", "Număr de urmărire", "Număr expediere",
		"Numéro de suivi", "Suivi", "N° de suivi", "Numéro de colis", "Lettre de voiture",
	},
	"contents": {
		"Contents", "Accessories", "Package contents", "Included", "Included accessories", "Parcel contents",
		"Περιεχόμενα", "Παρελκόμενα", "Αξεσουάρ", "Περιεχόμενα δέματος",
		"Conținut", "Conținut colet", "Accesorii",
		"Contenu", "Accessoires", "Contenu du colis",
	},
	"vendor_ticket": {
		"Vendor ticket", "Ticket", "Support ticket", "Ticket number", "Ticket no", "Manufacturer ticket",
		"Vendor case", "Case number", "Vendor RMA",
		"Αριθμός ticket", "Ticket κατασκευαστή", "Αριθμός υπόθεσης",
		"Tichet", "Număr tichet", "Tichet suport", "Tichet producător",
		"Numéro de ticket", "Ticket fabricant", "Ticket constructeur",
	},
	"iban": {
		"IBAN", "Bank account", "Account IBAN", "IBAN account",
		"Λογαριασμός IBAN", "Αριθμός λογαριασμού", "Λογαριασμός",
		"Cont IBAN", "Cont bancar",
		"Compte bancaire", "Compte IBAN",
	},
	"receiver_pays": {
		"Receiver pays", "Freight collect", "Shipping paid by receiver",
		"Χρέωση παραλήπτη", "Πληρωμή από παραλήπτη",
		"Plată la destinatar", "Plata la destinatar", "Transport plătit de destinatar",
		"Port dû",
	},
}

// labelIndex maps a folded label to its field name.
var labelIndex = buildLabelIndex()

func buildLabelIndex() map[string]string {
	idx := make(map[string]string)
	for field, labels := range fieldLabels {
		// The field names themselves ("purchase_date") are always accepted.
		idx[fold(field)] = field
		for _, l := range labels {
			idx[fold(l)] = field
		}
	}
	return idx
}

// fieldForLabel returns the item field a label names, if any.
func fieldForLabel(label string) (string, bool) {
	if len(label) > maxLabelBytes {
		return "", false
	}
	k := fold(label)
	if k == "" {
		return "", false
	}
	f, ok := labelIndex[k]
	return f, ok
}

// maxLabelBytes bounds what is looked up: labels are short, sentences are not.
const maxLabelBytes = 120
